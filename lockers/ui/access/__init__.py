"""Accessibility mode of the kiosk window (issue 21): keys instead of touch, the voice, low
reach, high contrast and large text, longer timeouts with a warning, and "call staff".

- :mod:`.keymap`: which key does what (USB numeric keypad, 4-way + OK pad, keyboard);
- :mod:`.speech`: what a screen, a control or a hint says, as string ids of :mod:`lockers.i18n`;
- :mod:`.focus`: the focus order of a screen and moving through it;
- :mod:`.bar`: the row of buttons every screen shows (mode, contrast, text, reach, staff...);
- :mod:`.reach`: the low-reach layout (every control in the bottom band);
- :mod:`.access_controller`: the glue (keys → actions, speaking, warnings, call staff).
"""
