"""Config section of the liveness checks: the passive anti-spoofing models and the head-turn
challenge."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockers.config._base import ResolvedPath, Section

_UPSTREAM = (
    "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/raw/master/"
    "resources/anti_spoof_models/"
)


class AntiSpoofModelConfig(Section):
    """One passive anti-spoofing model: its file in ``liveness.anti_spoof_dir``, the network it
    must fit, the face-box scale of its crop, where to download it and its pinned SHA-256."""

    file: str = Field(pattern=r"^[^/\\]+$")
    architecture: Literal["MiniFASNetV2", "MiniFASNetV1SE"]
    scale: float = Field(gt=1.0, le=8.0)
    url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


# Chosen with `lockers evaluate-pad` on the shared material (README, "Anti-spoofing").
DEFAULT_THRESHOLD = 0.50
DEFAULT_CONFIDENT = 0.82


def _default_models() -> list[dict[str, object]]:
    return [
        {
            "file": "2.7_80x80_MiniFASNetV2.pth",
            "architecture": "MiniFASNetV2",
            "scale": 2.7,
            "url": _UPSTREAM + "2.7_80x80_MiniFASNetV2.pth",
            "sha256": "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
        },
        {
            "file": "4_0_0_80x80_MiniFASNetV1SE.pth",
            "architecture": "MiniFASNetV1SE",
            "scale": 4.0,
            "url": _UPSTREAM + "4_0_0_80x80_MiniFASNetV1SE.pth",
            "sha256": "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
        },
    ]


class LivenessSettings(Section):
    """Passive presentation-attack detection (PAD) on every capture, and the head-turn challenge.

    ``passive``: ``on`` (the kiosk refuses to start without verified anti-spoof weights) or
    ``off`` (staff decision: the screen and the audit log say so). The fused "real" probability
    (mean of both models over the frames) of a capture that would open an existing rental's
    door falls in one of three tiers: below ``threshold`` it is refused; at or above
    ``confident`` the door opens; in between the kiosk asks for one head move first.
    ``register_turns``: the head moves asked at a new registration (which opens an empty
    locker; 0 = none).
    """

    passive: Literal["on", "off"] = "on"
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0.0, lt=1.0)
    # Not given: DEFAULT_CONFIDENT, or the threshold when that is higher.
    confident: float = Field(DEFAULT_CONFIDENT, gt=0.0, le=1.0)
    anti_spoof_dir: ResolvedPath = Field(default="models/anti-spoof")  # type: ignore[assignment]
    anti_spoof_models: list[AntiSpoofModelConfig] = Field(default_factory=_default_models)  # type: ignore[arg-type]
    threads: int = Field(1, ge=1, le=64)
    # The head-turn challenge: moves drawn from `directions` with no immediate repeat, each
    # within `turn_timeout_s`, each held for a random time the user is shown. A registration
    # asks `register_turns`; an unsure capture for an existing rental asks exactly one.
    register_turns: int = Field(1, ge=0, le=6)
    directions: tuple[Literal["left", "right", "up", "down"], ...] = ("left", "right", "up", "down")
    turn_timeout_s: float = Field(6.0, gt=0.5, le=60.0)
    hold_min_s: float = Field(0.3, ge=0.0, le=5.0)
    hold_max_s: float = Field(1.2, ge=0.0, le=5.0)
    same_face_min_cosine: float = Field(0.5, ge=-1.0, le=1.0)

    @field_validator("passive", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: object) -> object:
        # YAML reads a bare on/off as true/false.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @model_validator(mode="before")
    @classmethod
    def _older_files(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # `turns` (before the tiers: the moves of every registration) reads as `register_turns`.
        if "turns" in data:
            if "register_turns" in data:
                raise ValueError(
                    "turns is the old name of register_turns: give register_turns only"
                )
            data["register_turns"] = data.pop("turns")
        # A file that raises `threshold` above the shipped `confident` without naming
        # `confident` (every file before the tiers) keeps its meaning: no challenge tier.
        if "confident" not in data:
            try:
                threshold = float(data.get("threshold", DEFAULT_THRESHOLD))
            except (TypeError, ValueError):
                return data  # the threshold field's own error says what is wrong
            data["confident"] = max(DEFAULT_CONFIDENT, threshold)
        return data

    @property
    def turns(self) -> int:
        """Deprecated: the moves of a registration challenge for code that cannot skip the
        challenge yet (``register_turns: 0`` reads as 1 here, the stricter side). Read
        ``register_turns``."""
        return max(1, self.register_turns)

    @model_validator(mode="after")
    def _consistent(self) -> LivenessSettings:
        if self.confident < self.threshold:
            raise ValueError(
                f"confident ({self.confident}) must be at least threshold ({self.threshold}): "
                "scores between them get a head-move challenge, scores at or above confident "
                "open without one"
            )
        if self.hold_max_s < self.hold_min_s:
            raise ValueError("hold_max_s must be at least hold_min_s")
        if len(set(self.directions)) < 2:
            raise ValueError("directions needs at least two different moves")
        if self.passive == "on" and not self.anti_spoof_models:
            raise ValueError("passive: on needs at least one entry in anti_spoof_models")
        names = [m.file for m in self.anti_spoof_models]
        if len(set(names)) != len(names):
            raise ValueError("anti_spoof_models lists the same file twice")
        return self
