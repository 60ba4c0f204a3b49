"""Composition root: builds the kiosk's parts from settings (real or demo).

Collaborators are created here and passed in; nothing below this package constructs its own
dependencies or reads the config file. The rooms: :mod:`~lockers.app.pipeline` (the face
pipeline and the start-up rules about its weights), :mod:`~lockers.app.demo` (the demo's board,
lockers, sample video and staff account), :mod:`~lockers.app.backend` (the window's port onto
the services) and :mod:`~lockers.app.compose` (:func:`build_kiosk` wires the store, the
services, the lock board — a real port or the emulator on a pty — the camera — a device or a
replayed video — and a deferred face pipeline, loaded by the camera worker off the UI thread).
``lockers.ui.launch.run_window`` puts them on screen.
"""

from __future__ import annotations

from lockers.app.backend import ServicesBackend
from lockers.app.compose import KioskParts, build_kiosk, run_startup_checks
from lockers.app.demo import (
    DEMO_BOARD_ADDRESS,
    DEMO_LOCKERS,
    DEMO_STAFF,
    SAMPLE_VIDEO,
    camera_present,
    demo_settings,
    ensure_demo_staff,
)
from lockers.app.pipeline import (
    anti_spoof_problems,
    build_pipeline,
    require_anti_spoof,
    require_trained_weights,
    weights_ready,
)

__all__ = [
    "DEMO_BOARD_ADDRESS",
    "DEMO_LOCKERS",
    "DEMO_STAFF",
    "SAMPLE_VIDEO",
    "KioskParts",
    "ServicesBackend",
    "anti_spoof_problems",
    "build_kiosk",
    "build_pipeline",
    "camera_present",
    "demo_settings",
    "ensure_demo_staff",
    "require_anti_spoof",
    "require_trained_weights",
    "run_startup_checks",
    "weights_ready",
]
