"""Config section of the touch UI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockers.config._base import Section


class PresetReason(Section):
    """One reason staff can pick for an action, in both screen languages."""

    ko: str = Field(min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)


def _reasons(*pairs: tuple[str, str]) -> list[PresetReason]:
    return [PresetReason(ko=ko, en=en) for ko, en in pairs]


_OTHER = ("기타", "other")


class StaffReasons(Section):
    """The reasons offered per staff action (a touch kiosk has no keyboard: staff pick one and
    may add free text on the on-screen keyboard). The audit log records the reason in
    ``ui.language``, plus the free text."""

    open: list[PresetReason] = Field(
        default_factory=lambda: _reasons(
            ("고객이 얼굴 인식에 실패함", "customer not recognised"),
            ("고객이 물건을 두고 감", "customer left belongings"),
            ("점검 / 청소", "inspection / cleaning"),
            _OTHER,
        ),
        min_length=1,
    )
    reset: list[PresetReason] = Field(
        default_factory=lambda: _reasons(
            ("보관 기한 초과, 물건 회수함", "overdue, belongings removed"),
            ("고객 요청으로 이용 종료", "rental ended at the customer's request"),
            ("빈 보관함 확인", "locker found empty"),
            _OTHER,
        ),
        min_length=1,
    )
    out_of_service: list[PresetReason] = Field(
        default_factory=lambda: _reasons(
            ("잠금 장치 고장", "lock faulty"),
            ("문 손상", "door damaged"),
            ("청소 중", "cleaning"),
            _OTHER,
        ),
        min_length=1,
    )


class UiConfig(Section):
    """Language and timing of the kiosk screens."""

    language: Literal["ko", "en"] = "ko"
    idle_timeout_s: float = Field(30.0, gt=0)
    fullscreen: bool = True
    qt_platform: Literal["", "xcb", "wayland", "eglfs", "linuxfb", "vnc", "offscreen"] = Field(
        "", description="Qt platform plugin; empty = QT_QPA_PLATFORM, else what the display offers"
    )
    staff_reasons: StaffReasons = Field(default_factory=StaffReasons)
    max_frame_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="frames in a row whose analysis fails before the kiosk is out of order "
        "(a model fault; it clears itself when frames analyse again)",
    )
