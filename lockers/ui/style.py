"""One style sheet for the kiosk: big type, big targets (at least 96 px), high contrast."""

from __future__ import annotations

COLOURS = {
    "available": "#2e7d32",
    "occupied": "#1565c0",
    "overdue": "#ef6c00",
    "out_of_service": "#616161",
    "door_open": "#f9a825",
    "unknown": "#6a1b9a",
    "attention": "#c62828",
}

STYLE = """
QWidget { background: #101418; color: #f5f7fa; font-size: 22px; }
QLabel#title { font-size: 44px; font-weight: 700; }
QLabel#subtitle { font-size: 28px; color: #c9d1d9; }
QLabel#huge { font-size: 160px; font-weight: 800; color: #ffd54f; }
QLabel#guidance { font-size: 34px; font-weight: 600; color: #ffd54f; }
QLabel#body { font-size: 26px; }
QLabel#banner { background: #b71c1c; color: white; font-size: 22px; font-weight: 700;
                padding: 6px; }
QLabel#notice { background: #37474f; color: white; font-size: 18px; padding: 4px; }
QLabel#error { color: #ff8a80; font-size: 24px; }
QLabel#staffDetail { background: #263238; color: #ffd54f; font-size: 18px; padding: 8px; }
QPushButton { background: #263238; border: 2px solid #455a64; border-radius: 16px;
              padding: 12px 24px; min-height: 72px; font-size: 26px; }
QPushButton:pressed { background: #37474f; }
QPushButton:disabled { color: #78909c; border-color: #37474f; }
QPushButton#primary { background: #1565c0; border-color: #1e88e5; font-size: 38px;
                      font-weight: 700; min-height: 180px; }
QPushButton#secondary { background: #2e7d32; border-color: #43a047; font-size: 38px;
                        font-weight: 700; min-height: 180px; }
QLabel#choiceTitle { font-size: 44px; font-weight: 700; }
QLabel#choiceSub { font-size: 26px; }
QPushButton#primary:disabled, QPushButton#secondary:disabled { background: #263238;
                                                               border-color: #37474f; }
QPushButton#danger { background: #b71c1c; border-color: #e53935; }
QPushButton#lang { min-height: 56px; font-size: 22px; padding: 6px 18px; }
QPushButton#digit { font-size: 40px; min-height: 96px; min-width: 120px; }
QLineEdit { background: #1e272e; border: 2px solid #455a64; border-radius: 10px;
            padding: 10px; font-size: 30px; min-height: 60px; }
QProgressBar { border: 2px solid #455a64; border-radius: 10px; min-height: 28px;
               text-align: center; }
QProgressBar::chunk { background: #43a047; border-radius: 8px; }
QTableWidget { font-size: 18px; gridline-color: #37474f; }
QHeaderView::section { background: #263238; font-size: 18px; padding: 4px; }
QTabBar::tab { min-height: 56px; min-width: 180px; font-size: 24px; background: #263238;
               padding: 6px 16px; }
QTabBar::tab:selected { background: #1565c0; }
QComboBox { min-height: 56px; font-size: 22px; }
"""
