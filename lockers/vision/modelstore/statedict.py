"""Reading a PyTorch state_dict safely and describing what is wrong with it, for every model kind.

``torch.load(weights_only=True)`` only (no pickled code), a checkpoint wrapper or a
``DataParallel`` ``module.`` prefix unwrapped, and one line per kind of problem (missing,
unexpected, wrong shape, wrong dtype, NaN/inf) naming up to five keys each.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.errors import WeightsError
from lockers.vision.modelstore.fetch import first_line

if TYPE_CHECKING:
    import torch

# Old checkpoints may lack BatchNorm's step counter; it plays no part in inference.
OPTIONAL_SUFFIX = ".num_batches_tracked"
_MAX_LISTED = 5  # keys named per kind of problem; the rest are counted
_ZIP_MAGIC = b"PK\x03\x04"

Expected = Mapping[str, tuple[tuple[int, ...], bool]]
"""key → (shape, is floating point)."""


def tensor_problems(
    tensors: Mapping[str, torch.Tensor],
    expected: Expected,
    missing: list[str],
    unexpected: list[str],
    *,
    exact_dtype: bool,
    bad_values: list[str] | None = None,
) -> list[str]:
    """One line per kind of problem (missing, unexpected, shape, dtype, NaN/inf, bad values).

    ``expected`` maps key → (shape, is floating point); keys of ``tensors`` not in it are
    skipped (the caller lists them as unexpected). With ``exact_dtype`` an expected integer
    tensor must not be floating point either.
    """
    mismatched: list[str] = []
    wrong_dtype: list[str] = []
    not_finite: list[str] = []
    for key, tensor in tensors.items():
        if key not in expected:
            continue
        shape, floating = expected[key]
        if tuple(tensor.shape) != shape:
            mismatched.append(f"{key} {list(tensor.shape)} (expected {list(shape)})")
        elif floating != tensor.is_floating_point() and (floating or exact_dtype):
            kind = "floating point" if floating else "integer"
            wrong_dtype.append(f"{key} {tensor.dtype} (expected {kind})")
        elif floating and not all_finite(tensor):
            not_finite.append(key)
    return [
        f"{len(items)} {kind}: {listing(items)}"
        for kind, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", [*mismatched, *(bad_values or [])]),
            ("tensors of the wrong dtype", wrong_dtype),
            ("tensors with NaN or infinite values", not_finite),
        )
        if items
    ]


def all_finite(tensor: torch.Tensor) -> bool:
    """Whether a tensor holds no NaN or infinite value."""
    import numpy as np
    import torch

    numpy_float = tensor.dtype in (torch.float16, torch.float32, torch.float64)
    if numpy_float and tensor.device.type == "cpu":
        # numpy: single-threaded and ~5x faster here than torch's parallel reduction, whose
        # thread barriers crawl when the cores are busy (a kiosk starting up, a CI runner).
        return bool(np.isfinite(tensor.detach().numpy()).all())
    return bool(torch.isfinite(tensor).all())


def listing(items: list[str]) -> str:
    """Up to five items, then how many more."""
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} … and {more} more" if more > 0 else shown


def require_file(path: Path, *, missing: str, hint: str, setting: str) -> None:
    """``path`` must be a file. ``missing`` says what is absent ("embedding weights"),
    ``hint`` how to get it, ``setting`` which config key names the path."""
    if path.is_dir():
        raise WeightsError(
            f"the weights path {path} is a folder, not a file",
            hint=f"set {setting} in config.yaml to the weights file itself",
        )
    if not path.exists():
        raise WeightsError(f"{missing} not found at {path}", hint=hint)


def torch_load(path: Path, *, origin: str, fix: str) -> Any:
    """``torch.load`` with tensors only; every failure as a :class:`WeightsError` saying what
    the bytes look like (empty, truncated, a web page, pickled code). ``fix`` is its hint."""
    import pickle

    import torch

    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"the weights file {origin} is empty (0 bytes)", hint=fix)
    with open(path, "rb") as fh:
        head = fh.read(64)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if head.startswith(_ZIP_MAGIC) and "weights only load failed" in str(exc).lower():
            raise WeightsError(
                f"{origin} holds Python objects besides tensors; it is refused because "
                "unpickling them could run arbitrary code",
                hint="re-save just the tensors: torch.save(model.state_dict(), 'weights.pt'), then "
                "`lockers models import weights.pt`",
            ) from None
        raise WeightsError(
            f"{origin} is not a PyTorch weights file ({size} bytes{_describe_head(head)})",
            hint=fix,
        ) from None
    except Exception as exc:
        # Parsing arbitrary bytes fails in arbitrary ways (struct.error, KeyError, EOFError...).
        if head.startswith(_ZIP_MAGIC):
            what = f"is truncated or damaged ({size} bytes; {first_line(exc)})"
        else:
            what = f"is not a PyTorch weights file ({size} bytes{_describe_head(head)})"
        raise WeightsError(f"the weights file {origin} {what}", hint=fix) from None


def _describe_head(head: bytes) -> str:
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        return ", it looks like a web page: a proxy or error page was saved instead"
    return f", it starts with {head[:16]!r}"


def unwrap_checkpoint(obj: Any, *, origin: str, hint: str) -> Mapping[str, Any]:
    """The state_dict in ``obj``: itself, or wrapped under exactly one of ``"state_dict"`` or
    ``"model"``; a ``module.`` prefix on every key (``DataParallel``) is removed. ``hint``
    says which file to use instead."""
    import torch

    def is_state_dict(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and len(value) > 0
            and all(isinstance(v, torch.Tensor) for v in value.values())
        )

    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{origin} holds a {type(obj).__name__}, not a state_dict (a dict of tensors)",
            hint=hint,
        )
    if is_state_dict(obj):
        state_dict: Mapping[str, Any] = obj
    else:
        wrapped = [key for key in ("state_dict", "model") if is_state_dict(obj.get(key))]
        if len(wrapped) != 1:
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            why = "both 'state_dict' and 'model'" if wrapped else f"keys {keys} but no state_dict"
            raise WeightsError(
                f"{origin} is a checkpoint dict holding {why}; cannot tell which are the weights",
                hint="save the network's state_dict alone: "
                "torch.save(model.state_dict(), 'weights.pt'), then "
                "`lockers models import weights.pt`",
            )
        state_dict = obj[wrapped[0]]
    if all(isinstance(k, str) and k.startswith("module.") for k in state_dict):
        state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    return state_dict
