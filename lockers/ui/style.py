"""One style sheet for the kiosk: big type, big targets (at least 96 px), high contrast.

The look is data: a :class:`Palette` names every place text is drawn (a :class:`Surface`, its
text colour on its background) and the lines around controls; :data:`RULES` says which
selector uses which surface at which base font size. :func:`stylesheet` renders the two
together, so the normal dark look and the high-contrast one are the same rules in other
colours, and large text is the same sheet with every font size scaled (``accessibility.
text_scale``, at least 1.5). tests/ui/test_contrast.py computes WCAG contrast from the palettes
(7:1 high contrast, 4.5:1 normal) and checks the rendered sheet.

Every rule that sets a text colour also sets its background (or says it is transparent over a
named parent), so no pair forms in Qt's cascade that the palette does not list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Surface:
    """Text in one colour on one background: one place where the kiosk draws text."""

    text: str
    background: str


@dataclass(frozen=True)
class Palette:
    """The colours of one look.

    ``surfaces``: every text/background pair the style sheet uses, by role; ``lines``: colours
    that carry no text (borders, grid lines, the focus ring); ``tiles``: the staff panel's
    locker tiles by state (their text on their state's colour).
    """

    name: str
    surfaces: dict[str, Surface]
    lines: dict[str, str]
    tiles: dict[str, Surface] = field(default_factory=dict)

    def surface(self, role: str) -> Surface:
        return self.surfaces[role]


_NORMAL_TEXT = "#f5f7fa"
_NORMAL_SCREEN = "#101418"

NORMAL = Palette(
    name="normal",
    surfaces={
        "screen": Surface(_NORMAL_TEXT, _NORMAL_SCREEN),
        "subtitle": Surface("#c9d1d9", _NORMAL_SCREEN),
        "accent": Surface("#ffd54f", _NORMAL_SCREEN),
        "error": Surface("#ff8a80", _NORMAL_SCREEN),
        "banner": Surface("#ffffff", "#b71c1c"),
        "notice": Surface("#ffffff", "#37474f"),
        "staff_detail": Surface("#ffd54f", "#263238"),
        "button": Surface(_NORMAL_TEXT, "#263238"),
        "button_pressed": Surface(_NORMAL_TEXT, "#37474f"),
        # #78909c was 3.9:1 on the button; one step lighter in the same blue-grey passes 4.5.
        "button_disabled": Surface("#90a4ae", "#263238"),
        "primary": Surface(_NORMAL_TEXT, "#1565c0"),
        "secondary": Surface(_NORMAL_TEXT, "#2e7d32"),
        "danger": Surface(_NORMAL_TEXT, "#b71c1c"),
        "input": Surface(_NORMAL_TEXT, "#1e272e"),
        # The progress text is drawn over the bar: #43a047 gave it 3.1:1; the kiosk's darker
        # green (the register button's) gives 4.8:1.
        "progress_chunk": Surface(_NORMAL_TEXT, "#2e7d32"),
        "header": Surface(_NORMAL_TEXT, "#263238"),
        "tab": Surface(_NORMAL_TEXT, "#263238"),
        "tab_selected": Surface(_NORMAL_TEXT, "#1565c0"),
        "selection": Surface(_NORMAL_TEXT, "#1565c0"),
    },
    lines={
        "border": "#455a64",
        "border_disabled": "#37474f",
        "primary_border": "#1e88e5",
        "secondary_border": "#43a047",
        "danger_border": "#e53935",
        "grid": "#37474f",
        "focus": "#ffd54f",
        "focus_on_light": _NORMAL_SCREEN,  # the ring on a light tile (amber on amber is lost)
        "tile_selected": "#ffffff",
    },
    tiles={
        "available": Surface(_NORMAL_TEXT, "#2e7d32"),
        "occupied": Surface(_NORMAL_TEXT, "#1565c0"),
        # White on orange (2.9:1) and on amber (1.8:1) was unreadable: dark text, same tiles.
        "overdue": Surface(_NORMAL_SCREEN, "#ef6c00"),
        "out_of_service": Surface(_NORMAL_TEXT, "#616161"),
        "door_open": Surface(_NORMAL_SCREEN, "#f9a825"),
        "unknown": Surface(_NORMAL_TEXT, "#6a1b9a"),
        "attention": Surface(_NORMAL_TEXT, "#c62828"),
    },
)

# Black, white and yellow, with the kiosk's hues kept only as dark fills under white text (or
# light fills under black) so a button is still "the blue one" for those who see colour.
HIGH_CONTRAST = Palette(
    name="high_contrast",
    surfaces={
        "screen": Surface("#ffffff", "#000000"),
        "subtitle": Surface("#ffffff", "#000000"),
        "accent": Surface("#ffff00", "#000000"),
        "error": Surface("#ffb4ab", "#000000"),
        "banner": Surface("#ffffff", "#8e0000"),
        "notice": Surface("#ffffff", "#263238"),
        "staff_detail": Surface("#ffff00", "#1a1a1a"),
        "button": Surface("#ffffff", "#000000"),
        "button_pressed": Surface("#000000", "#ffffff"),
        "button_disabled": Surface("#c0c0c0", "#000000"),
        "primary": Surface("#ffffff", "#0d47a1"),
        "secondary": Surface("#ffffff", "#1b5e20"),
        "danger": Surface("#ffffff", "#8e0000"),
        "input": Surface("#ffffff", "#000000"),
        "progress_chunk": Surface("#ffffff", "#1b5e20"),
        "header": Surface("#ffffff", "#263238"),
        "tab": Surface("#ffffff", "#000000"),
        "tab_selected": Surface("#ffffff", "#0d47a1"),
        "selection": Surface("#ffffff", "#0d47a1"),
    },
    lines={
        "border": "#ffffff",
        "border_disabled": "#808080",
        "primary_border": "#ffffff",
        "secondary_border": "#ffffff",
        "danger_border": "#ffffff",
        "grid": "#808080",
        "focus": "#ffff00",
        "focus_on_light": "#000000",
        "tile_selected": "#ffffff",
    },
    tiles={
        "available": Surface("#ffffff", "#1b5e20"),
        "occupied": Surface("#ffffff", "#0d47a1"),
        "overdue": Surface("#000000", "#ff9800"),
        "out_of_service": Surface("#ffffff", "#424242"),
        "door_open": Surface("#000000", "#ffd600"),
        "unknown": Surface("#ffffff", "#4a148c"),
        "attention": Surface("#ffffff", "#8e0000"),
    },
)

# The staff panel's tile colours (backgrounds) in the normal look, as before.
COLOURS = {state: surface.background for state, surface in NORMAL.tiles.items()}

BORDER_PX = 2
# The focus ring: three times the border, in the palette's ring colour, so a keypad user sees
# at a glance where they are. Padding shrinks by the difference so nothing moves on focus.
FOCUS_PX = 6
TILE_BORDER_PX = 4
MIN_LARGE_TEXT_SCALE = 1.5


@dataclass(frozen=True)
class Rule:
    """One block of the style sheet.

    ``surface`` sets ``color`` and ``background`` together; with ``transparent`` the text
    colour is set and the background left to the parent (a label inside a button: its text must
    read on the parent's surfaces, the test checks every state). ``font_px`` is the
    normal-size font, scaled by :func:`stylesheet`. ``css`` is the rest, with ``{line}`` names from
    :attr:`Palette.lines`.
    """

    selector: str
    surface: str | None = None
    font_px: int | None = None
    css: str = ""
    transparent: bool = False


_FOCUSED_BUTTONS = ", ".join(
    f"QPushButton{name}:focus" for name in ("", "#primary", "#secondary", "#danger", "#digit")
)

RULES: tuple[Rule, ...] = (
    Rule("QWidget", "screen", 22),
    Rule("QLabel#title", "screen", 44, "font-weight: 700;"),
    Rule("QLabel#subtitle", "subtitle", 28),
    Rule("QLabel#huge", "accent", 160, "font-weight: 800;"),
    Rule("QLabel#guidance", "accent", 34, "font-weight: 600;"),
    Rule("QLabel#body", "screen", 26),
    Rule("QLabel#banner", "banner", 22, "font-weight: 700; padding: 6px;"),
    Rule("QLabel#notice", "notice", 18, "padding: 4px;"),
    Rule("QLabel#error", "error", 24),
    Rule("QLabel#staffDetail", "staff_detail", 18, "padding: 8px;"),
    Rule(
        "QPushButton",
        "button",
        26,
        f"border: {BORDER_PX}px solid {{border}}; border-radius: 16px; padding: 12px 24px; "
        "min-height: 72px;",
    ),
    Rule("QPushButton:pressed", "button_pressed"),
    Rule("QPushButton:disabled", "button_disabled", css="border-color: {border_disabled};"),
    Rule(
        "QPushButton#primary",
        "primary",
        38,
        "border-color: {primary_border}; font-weight: 700; min-height: 180px;",
    ),
    Rule(
        "QPushButton#secondary",
        "secondary",
        38,
        "border-color: {secondary_border}; font-weight: 700; min-height: 180px;",
    ),
    Rule("QLabel#choiceTitle", font_px=44, css="font-weight: 700;"),
    Rule("QLabel#choiceSub", font_px=26),
    # The big choice buttons hold two labels with no background of their own.
    Rule(
        "QPushButton#primary QLabel",
        "primary",
        transparent=True,
    ),
    Rule(
        "QPushButton#secondary QLabel",
        "secondary",
        transparent=True,
    ),
    Rule(
        "QPushButton#primary:disabled, QPushButton#secondary:disabled, QPushButton#danger:disabled",
        "button_disabled",
        css="border-color: {border_disabled};",
    ),
    Rule("QPushButton#danger", "danger", css="border-color: {danger_border};"),
    Rule("QPushButton#lang", font_px=22, css="min-height: 56px; padding: 6px 18px;"),
    Rule("QPushButton#digit", font_px=40, css="min-height: 96px; min-width: 120px;"),
    Rule(
        "QLineEdit",
        "input",
        30,
        f"border: {BORDER_PX}px solid {{border}}; border-radius: 10px; padding: 10px; "
        "min-height: 60px; selection-color: {selection_text}; "
        "selection-background-color: {selection_background};",
    ),
    Rule(
        "QProgressBar",
        "screen",
        css=f"border: {BORDER_PX}px solid {{border}}; border-radius: 10px; min-height: 28px; "
        "text-align: center;",
    ),
    Rule("QProgressBar::chunk", "progress_chunk", css="border-radius: 8px;"),
    Rule(
        "QTableWidget",
        "screen",
        18,
        "gridline-color: {grid}; selection-color: {selection_text}; "
        "selection-background-color: {selection_background};",
    ),
    Rule("QHeaderView::section", "header", 18, "padding: 4px;"),
    Rule("QTabBar::tab", "tab", 24, "min-height: 56px; min-width: 180px; padding: 6px 16px;"),
    Rule("QTabBar::tab:selected", "tab_selected"),
    Rule("QComboBox", "screen", 22, "min-height: 56px;"),
    # The focus ring (a keypad user must see where they are): rules with an id beat a bare
    # :focus in Qt's cascade, so every button kind that sets a border is named.
    Rule(
        _FOCUSED_BUTTONS,
        css=f"border: {FOCUS_PX}px solid {{focus}}; padding: {12 - FOCUS_PX + BORDER_PX}px "
        f"{24 - FOCUS_PX + BORDER_PX}px;",
    ),
    Rule(
        "QPushButton#lang:focus",
        css=f"border: {FOCUS_PX}px solid {{focus}}; padding: {6 - FOCUS_PX + BORDER_PX}px "
        f"{18 - FOCUS_PX + BORDER_PX}px;",
    ),
    Rule(
        "QLineEdit:focus",
        css=f"border: {FOCUS_PX}px solid {{focus}}; padding: {10 - FOCUS_PX + BORDER_PX}px;",
    ),
    Rule("QComboBox:focus, QTableWidget:focus", css=f"border: {FOCUS_PX}px solid {{focus}};"),
    Rule("QTabBar::tab:focus", css=f"border: {FOCUS_PX}px solid {{focus}};"),
)

_FONT_SIZE = re.compile(r"font-size:\s*(\d+)px")


def scaled_px(px: int, text_scale: float) -> int:
    """A font size at ``text_scale``, rounded up (large text is never under its scale)."""
    return math.ceil(px * text_scale - 1e-9)


def scale_fonts(css: str, text_scale: float) -> str:
    """``css`` with every ``font-size: Npx`` scaled: for the screens' own small style sheets
    (the staff panel's denser buttons, the on-screen keyboard), which override the window's."""
    _check_scale(text_scale)
    return _FONT_SIZE.sub(lambda m: f"font-size: {scaled_px(int(m[1]), text_scale)}px", css)


def palette_for(*, high_contrast: bool = False) -> Palette:
    return HIGH_CONTRAST if high_contrast else NORMAL


def stylesheet(*, high_contrast: bool = False, text_scale: float = 1.0) -> str:
    """The kiosk's Qt style sheet in the normal or the high-contrast palette, with every font
    size times ``text_scale`` (1.0: normal; ``accessibility.text_scale``, >= 1.5: large)."""
    _check_scale(text_scale)
    palette = palette_for(high_contrast=high_contrast)
    return "\n".join(_render(rule, palette, text_scale) for rule in RULES) + "\n"


def tile_style(
    state: str, *, selected: bool, high_contrast: bool = False, text_scale: float = 1.0
) -> str:
    """The style sheet of one staff-panel locker tile in ``state`` (unknown states look
    ``unknown``): its text on its state's colour, a white border when selected, and a focus
    ring that shows on the tile's colour (a widget's own sheet beats the window's :focus)."""
    _check_scale(text_scale)
    palette = palette_for(high_contrast=high_contrast)
    tile = palette.tiles.get(state, palette.tiles["unknown"])
    border = palette.lines["tile_selected"] if selected else tile.background
    return (
        f"QPushButton {{ color: {tile.text}; background: {tile.background}; "
        f"border: {TILE_BORDER_PX}px solid {border}; "
        f"font-size: {scaled_px(22, text_scale)}px; min-height: 100px; }}\n"
        f"QPushButton:focus {{ border: {FOCUS_PX}px solid {tile_focus(palette, state)}; }}"
    )


def tile_focus(palette: Palette, state: str) -> str:
    """The focus ring's colour on a tile: the palette's ring, or its dark ring where the ring
    would be lost on a light tile (under 3:1, WCAG's bar for a focus indicator)."""
    tile = palette.tiles.get(state, palette.tiles["unknown"])
    ring = palette.lines["focus"]
    if contrast_ratio(ring, tile.background) >= 3.0:
        return ring
    return palette.lines["focus_on_light"]


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``: sRGB channels linearised, then weighted
    0.2126 R + 0.7152 G + 0.0722 B."""
    match = re.fullmatch(r"#([0-9a-fA-F]{6})", colour)
    if match is None:
        raise ValueError(f"colour {colour!r} is not #rrggbb")
    channels = (int(match[1][i : i + 2], 16) / 255 for i in (0, 2, 4))
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio (1..21) of two ``#rrggbb`` colours, in either order."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _check_scale(text_scale: float) -> None:
    # Config bounds accessibility.text_scale to 1.5..3; this guards callers passing raw values.
    if not 1.0 <= text_scale <= 4.0:
        raise ValueError(f"text_scale {text_scale} is outside 1.0..4.0")


def _render(rule: Rule, palette: Palette, text_scale: float) -> str:
    parts: list[str] = []
    if rule.surface is not None:
        surface = palette.surface(rule.surface)
        background = "transparent" if rule.transparent else surface.background
        parts.append(f"color: {surface.text}; background: {background};")
    if rule.font_px is not None:
        parts.append(f"font-size: {scaled_px(rule.font_px, text_scale)}px;")
    if rule.css:
        selection = palette.surface("selection")
        parts.append(
            rule.css.format(
                selection_text=selection.text,
                selection_background=selection.background,
                **palette.lines,
            )
        )
    return f"{rule.selector} {{ {' '.join(parts)} }}"


STYLE = stylesheet()
