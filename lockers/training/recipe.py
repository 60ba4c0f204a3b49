"""Training recipes: every knob of a run, from a YAML file and/or command-line overrides.

Validated with pydantic (unknown keys are errors, like the kiosk config), so a typo in a recipe
fails before any GPU time is spent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lockers.errors import ConfigError
from lockers.training.objectives import ALL_LOSSES, PAIR_LOSSES

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"

# InceptionResnetV1 blocks in forward order; ``train_from`` freezes everything before one.
BACKBONE_BLOCKS = (
    "conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a", "conv2d_4b",
    "repeat_1", "mixed_6a", "repeat_2", "mixed_7a", "repeat_3", "block8",
    "last_linear", "last_bn",
)  # fmt: skip


GROUPFACE_LOSSES = ("arcface", "cosface")


class GroupFaceOptions(BaseModel):
    """A GroupFace block on the backbone (Kim et al., CVPR 2020; :mod:`lockers.vision.groupface`).

    It changes the exported network: the weights file carries ``groupface.*`` keys, which the
    kiosk recognises and builds the GroupFace network for.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: int = Field(32, ge=2, le=1024, description="K latent groups")
    loss_weight: float = Field(0.1, ge=0, description="λ of the self-distributed grouping loss")
    aggregation: Literal["soft", "hard"] = "soft"
    gdn_hidden: int = Field(256, ge=1, le=4096, description="group decision network width")


class TrainRecipe(BaseModel):
    """One training run. Rates are per optimiser step; ``batch_size`` is the *global* batch
    (summed over all DDP processes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: Literal["inception_resnet_v1", "tiny_cnn"] = "inception_resnet_v1"
    image_size: int = Field(160, ge=16, le=512, description="px; the kiosk aligns to 160")
    embedding_dim: int = Field(512, ge=2, le=4096, description="tiny_cnn only; IRv1 is 512")
    dropout: float = Field(0.6, ge=0, lt=1)

    loss: str = "arcface"
    loss_params: dict[str, Any] = Field(default_factory=dict)
    groupface: GroupFaceOptions | None = None

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0)
    head_lr_factor: float = Field(10.0, gt=0, description="head lr = lr x this (fresh head)")
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)

    schedule: Literal["constant", "step", "cosine"] = "cosine"
    step_size_epochs: int = Field(10, ge=1, description="StepLR period")
    gamma: float = Field(0.1, gt=0, le=1, description="StepLR factor")
    min_lr_factor: float = Field(0.0, ge=0, le=1, description="cosine floor, x lr")
    warmup_steps: int = Field(0, ge=0)
    warmup_start_factor: float = Field(0.1, gt=0, le=1)

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=2)
    images_per_identity: int = Field(4, ge=2, description="K in P x K batches (pair losses)")
    val_fraction: float = Field(0.2, gt=0, lt=1)
    val_max_pairs: int = Field(20000, ge=10)
    hflip: bool = True

    train_from: str | None = Field(None, description="freeze backbone blocks before this one")
    unfreeze_at_epoch: int | None = Field(None, ge=0, description="then train everything")

    amp: bool = True  # used on CUDA only
    # DDP on GPUs: batch-norm statistics over the global batch, as in a one-process run.
    sync_batchnorm: bool = True
    seed: int = 0
    deterministic: bool = True
    num_workers: int = Field(0, ge=0, le=64)
    checkpoint_every_epochs: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> TrainRecipe:
        if self.loss not in ALL_LOSSES:
            raise ValueError(f"loss {self.loss!r} is not one of {', '.join(ALL_LOSSES)}")
        if self.train_from is not None and self.train_from not in BACKBONE_BLOCKS:
            raise ValueError(f"train_from must be one of {', '.join(BACKBONE_BLOCKS)}")
        if self.train_from is not None and self.backbone != "inception_resnet_v1":
            raise ValueError("train_from applies to the inception_resnet_v1 backbone only")
        if self.groupface is not None and self.loss not in GROUPFACE_LOSSES:
            raise ValueError(
                f"groupface is trained with {' or '.join(GROUPFACE_LOSSES)}, not {self.loss!r}"
            )
        if self.groupface is not None and self.backbone != "inception_resnet_v1":
            raise ValueError("groupface applies to the inception_resnet_v1 backbone only")
        if self.loss in PAIR_LOSSES and self.batch_size % self.images_per_identity:
            raise ValueError("batch_size must be a multiple of images_per_identity for pair losses")
        return self

    @property
    def pair_loss(self) -> bool:
        return self.loss in PAIR_LOSSES


def _parse_value(raw: str) -> Any:
    return yaml.safe_load(raw) if raw.strip() else raw


def load_recipe(path: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainRecipe:
    """The recipe in ``path`` (YAML mapping; a bare name picks a bundled recipe) with
    ``overrides`` applied on top (``None`` values are ignored).

    Raises:
        ConfigError: the file is missing or invalid, with one line per bad key.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file() and (RECIPES_DIR / f"{path}.yaml").is_file():
            path = RECIPES_DIR / f"{path}.yaml"
        if not path.is_file():
            bundled = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
            raise ConfigError(
                f"recipe {path} does not exist", hint=f"pass a YAML file or one of: {bundled}"
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"recipe {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"recipe {path} must be a mapping of keys to values")
        data.update(loaded)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return TrainRecipe.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'recipe'}: "
            + (
                "unknown key; allowed: " + ", ".join(sorted(TrainRecipe.model_fields))
                if e["type"] == "extra_forbidden"
                else e["msg"].removeprefix("Value error, ")
            )
            for e in exc.errors()
        ]
        raise ConfigError(
            f"invalid training recipe {path or '(flags)'}:\n"
            + "\n".join(f"  - {p}" for p in problems),
            hint="fix the keys listed above; see lockers/training/recipes/*.yaml",
            problems=problems,
        ) from None


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """``["lr=0.1", "loss_params={m: 0.3}"]`` → ``{"lr": 0.1, ...}`` (values parsed as YAML).

    Raises:
        ConfigError: an item has no ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not KEY=VALUE", hint="e.g. --set lr=0.05")
        out[key.strip()] = _parse_value(raw)
    return out


def with_groupface_groups(recipe: TrainRecipe, groups: int) -> TrainRecipe:
    """``recipe`` with a GroupFace block of ``groups`` groups (its other GroupFace settings kept,
    or the defaults); ``groups == 0`` removes the block.

    Raises:
        ConfigError: the result is not a valid recipe (e.g. GroupFace with a pair loss).
    """
    data = recipe.model_dump()
    data["groupface"] = None if groups == 0 else {**(data["groupface"] or {}), "groups": groups}
    return load_recipe(None, data)
