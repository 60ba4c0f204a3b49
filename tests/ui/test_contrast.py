"""Contrast and large text, computed: WCAG ratios from the palettes and the rendered sheets.

The ratio is computed here from the WCAG 2.x definition (not with the module's own helper), for
every text/background pair the palettes list and every pair the rendered style sheet sets:
high contrast >= 7:1 (WCAG AAA), normal >= 4.5:1 (AA). A focus ring must differ from what it
replaces by >= 3:1 (WCAG 2.4.13) and be drawn thick; large text is >= 1.5x every normal size.
"""

from __future__ import annotations

import re

import pytest

from lockers.config.accessibility import AccessibilityConfig
from lockers.ui import style
from lockers.ui.style import (
    COLOURS,
    HIGH_CONTRAST,
    NORMAL,
    STYLE,
    Palette,
    scale_fonts,
    stylesheet,
    tile_focus,
    tile_style,
)

LOOKS = [(NORMAL, False, 4.5), (HIGH_CONTRAST, True, 7.0)]
LOOK_IDS = ["normal", "high_contrast"]
FOCUS_MIN = 3.0
# Controls a keypad user can land on, by the surface they sit on.
FOCUSABLE = ("screen", "button", "primary", "secondary", "danger", "input", "tab", "tab_selected")


def luminance(colour: str) -> float:
    value = colour.lstrip("#")
    assert re.fullmatch(r"[0-9a-fA-F]{6}", value), colour

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(value[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def blocks(sheet: str) -> list[tuple[list[str], dict[str, str]]]:
    """``selector, ... { name: value; ... }`` blocks of a Qt style sheet."""
    found = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", sheet):
        props = {}
        for declaration in body.split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                props[name.strip()] = value.strip()
        found.append(([s.strip() for s in selectors.split(",")], props))
    return found


def test_the_formula_matches_wcag_reference_values() -> None:
    assert ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic AA miss
    assert ratio("#0000ff", "#ffffff") == pytest.approx(8.59, abs=0.01)
    assert style.contrast_ratio("#777777", "#ffffff") == pytest.approx(ratio("#777777", "#ffffff"))


@pytest.mark.parametrize(("palette", "high_contrast", "minimum"), LOOKS, ids=LOOK_IDS)
def test_every_text_surface_of_the_palette_is_readable(
    palette: Palette, high_contrast: bool, minimum: float
) -> None:
    pairs = {f"surface {k}": v for k, v in palette.surfaces.items()}
    pairs |= {f"tile {k}": v for k, v in palette.tiles.items()}
    failing = {
        where: round(ratio(s.text, s.background), 2)
        for where, s in pairs.items()
        if ratio(s.text, s.background) < minimum
    }
    assert not failing, f"{palette.name}: under {minimum}:1: {failing}"
    assert len(pairs) >= 20  # the palettes list the kiosk's surfaces, not a sample


@pytest.mark.parametrize(("palette", "high_contrast", "minimum"), LOOKS, ids=LOOK_IDS)
def test_every_pair_the_rendered_sheet_sets_is_readable(
    palette: Palette, high_contrast: bool, minimum: float
) -> None:
    parsed = blocks(stylesheet(high_contrast=high_contrast))
    backgrounds: dict[str, str] = {}
    for selectors, props in parsed:
        for selector in selectors:
            if props.get("background", "transparent") != "transparent":
                backgrounds[selector] = props["background"]
    checked, failing = 0, []
    for selectors, props in parsed:
        # Both or neither: a block that set only one would pair with whatever Qt's cascade
        # brings, a pair no palette lists.
        assert ("color" in props) == ("background" in props), (selectors, props)
        if "color" not in props:
            continue
        if props["background"] == "transparent":
            # A label inside a button: its text lies on the button in every state.
            parent = selectors[0].split()[0]
            under = [bg for sel, bg in backgrounds.items() if sel.split(":")[0] == parent]
            assert len(under) >= 2, (selectors, under)  # the button and its disabled state
        else:
            under = [props["background"]]
        for bg in under:
            checked += 1
            if ratio(props["color"], bg) < minimum:
                failing.append((selectors, props["color"], bg, round(ratio(props["color"], bg), 2)))
    assert not failing, f"{palette.name}: under {minimum}:1: {failing}"
    assert checked >= 20


@pytest.mark.parametrize(("palette", "high_contrast", "minimum"), LOOKS, ids=LOOK_IDS)
def test_the_sheet_uses_only_palette_colours(
    palette: Palette, high_contrast: bool, minimum: float
) -> None:
    known = {c for s in palette.surfaces.values() for c in (s.text, s.background)}
    known |= set(palette.lines.values())
    used = set(re.findall(r"#[0-9a-fA-F]{6}", stylesheet(high_contrast=high_contrast)))
    assert used <= known, used - known


@pytest.mark.parametrize(("palette", "high_contrast", "minimum"), LOOKS, ids=LOOK_IDS)
def test_the_focus_ring_is_thick_and_stands_out(
    palette: Palette, high_contrast: bool, minimum: float
) -> None:
    ring = palette.lines["focus"]
    for role in FOCUSABLE:
        surface = palette.surfaces[role]
        assert ratio(ring, surface.background) >= FOCUS_MIN, (role, ring, surface.background)
    # The ring grows inwards over the control's own background (checked above) by at least
    # 4 px beyond the plain border, so the change on focus shows even where the border and
    # the ring are both light (white and yellow in high contrast).
    assert style.FOCUS_PX - style.BORDER_PX >= 4
    for state in palette.tiles:
        tile = palette.tiles[state]
        assert ratio(tile_focus(palette, state), tile.background) >= FOCUS_MIN, state
    focus_rules = [
        (sels, props)
        for sels, props in blocks(stylesheet(high_contrast=high_contrast))
        if any(s.endswith(":focus") for s in sels)
    ]
    focused = {s.split(":")[0] for sels, _ in focus_rules for s in sels}
    assert {"QPushButton", "QPushButton#primary", "QPushButton#danger", "QLineEdit"} <= focused
    for _, props in focus_rules:
        assert props["border"] == f"{style.FOCUS_PX}px solid {ring}"
    assert style.FOCUS_PX >= 3 * style.BORDER_PX


def font_sizes(sheet: str) -> dict[str, int]:
    return {
        ", ".join(sels): int(props["font-size"].removesuffix("px"))
        for sels, props in blocks(sheet)
        if "font-size" in props
    }


@pytest.mark.parametrize("high_contrast", [False, True], ids=LOOK_IDS)
def test_large_text_is_at_least_one_and_a_half_times_every_size(high_contrast: bool) -> None:
    normal = font_sizes(stylesheet(high_contrast=high_contrast))
    scale = AccessibilityConfig().text_scale
    assert scale >= 1.5
    for factor in (scale, 2.0):
        large = font_sizes(stylesheet(high_contrast=high_contrast, text_scale=factor))
        assert large.keys() == normal.keys()
        small = {k: (normal[k], v) for k, v in large.items() if v < factor * normal[k]}
        assert not small, small
    assert len(normal) >= 15


def test_scale_fonts_scales_a_screens_own_sheet() -> None:
    css = "QPushButton { min-height: 56px; font-size: 22px; } QLabel#title { font-size: 32px; }"
    assert scale_fonts(css, 1.5) == (
        "QPushButton { min-height: 56px; font-size: 33px; } QLabel#title { font-size: 48px; }"
    )
    assert "font-size: 33px" in tile_style("available", selected=False, text_scale=1.5)
    with pytest.raises(ValueError, match="text_scale"):
        stylesheet(text_scale=0.5)


def test_the_normal_look_is_kept() -> None:
    assert stylesheet() == STYLE
    assert COLOURS == {
        "available": "#2e7d32",
        "occupied": "#1565c0",
        "overdue": "#ef6c00",
        "out_of_service": "#616161",
        "door_open": "#f9a825",
        "unknown": "#6a1b9a",
        "attention": "#c62828",
    }
    sizes = font_sizes(STYLE)
    assert sizes["QWidget"] == 22 and sizes["QLabel#huge"] == 160
    assert sizes["QPushButton#primary"] == 38 and sizes["QPushButton#digit"] == 40
    main = dict(blocks(STYLE)[0][1])
    assert (main["color"], main["background"]) == ("#f5f7fa", "#101418")


def test_tile_style_uses_the_tile_text_and_a_visible_ring() -> None:
    door = tile_style("door_open", selected=False)
    assert "color: #101418; background: #f9a825" in door
    assert f"border: {style.FOCUS_PX}px solid #101418" in door  # dark ring on amber
    chosen = tile_style("available", selected=True, high_contrast=True)
    assert "background: #1b5e20" in chosen and "solid #ffffff" in chosen
    assert "background: #4a148c" in tile_style("no-such-state", selected=False, high_contrast=True)


@pytest.mark.parametrize(("palette", "high_contrast", "minimum"), LOOKS, ids=LOOK_IDS)
def test_qt_takes_the_sheet_and_draws_the_ring_on_the_focused_control(
    qtbot: object, qtlog: object, palette: Palette, high_contrast: bool, minimum: float
) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QLineEdit, QPushButton, QVBoxLayout, QWidget

    window = QWidget()
    window.setStyleSheet(stylesheet(high_contrast=high_contrast, text_scale=1.5))
    layout = QVBoxLayout(window)
    controls: list[QWidget] = []
    for name in ("", "primary", "danger", "lang"):
        button = QPushButton(name or "plain")
        button.setObjectName(name)
        controls.append(button)
    controls.append(QLineEdit("1234"))
    tile = QPushButton("A01")
    tile.setStyleSheet(tile_style("door_open", selected=False, high_contrast=high_contrast))
    controls.append(tile)
    for control in controls:
        control.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout.addWidget(control)

    def ring_of(control: QWidget) -> QColor:
        if control is tile:
            return QColor(tile_focus(palette, "door_open"))
        return QColor(palette.lines["focus"])

    qtbot.addWidget(window)  # type: ignore[attr-defined]
    window.show()
    qtbot.waitExposed(window)  # type: ignore[attr-defined]
    window.activateWindow()
    try:
        for control in controls:
            ring = ring_of(control)
            control.setFocus()
            qtbot.waitUntil(control.hasFocus)  # type: ignore[attr-defined]
            image = control.grab().toImage()
            mid = image.height() // 2
            # The band just inside the left edge is the ring, FOCUS_PX wide (edge pixels skipped:
            # antialiasing), on the focused control only.
            band = [image.pixelColor(x, mid) for x in range(1, style.FOCUS_PX - 1)]
            assert all(c == ring for c in band), (control, [c.name() for c in band])
            for other in controls:
                if other is not control:
                    edge = other.grab().toImage()
                    mid_edge = edge.pixelColor(style.FOCUS_PX - 2, edge.height() // 2)
                    assert mid_edge != ring_of(other), other
    finally:
        window.close()
    parse_errors = [r.message for r in qtlog.records if "style" in r.message.lower()]  # type: ignore[attr-defined]
    assert not parse_errors
