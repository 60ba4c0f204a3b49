"""Capture, liveness and retrieve scanning: live preview, face box, guidance, progress."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QVBoxLayout, QWidget

from lockers.i18n import tr
from lockers.kiosk.flow import FlowView, Phase
from lockers.ui.camera_worker import FramePacket
from lockers.ui.qt_compat import forward
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.preview import CameraPreview
from lockers.vision.liveness import LivenessStatus, Turn

_ARROWS = {Turn.LEFT: "⬅", Turn.RIGHT: "➡", Turn.UP: "⬆", Turn.DOWN: "⬇"}


class CameraScreen(QWidget):
    cancel_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._view = FlowView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 16, 32, 16)
        self.title = label("", "title")
        layout.addWidget(self.title)
        middle = QHBoxLayout()
        self.preview = CameraPreview()
        middle.addWidget(self.preview, 3)
        side = QVBoxLayout()
        self.prompt = label("", "huge")
        self.guidance = label("", "guidance")
        side.addWidget(self.prompt)
        side.addWidget(self.guidance, 1)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        side.addWidget(self.progress)
        self.cancel = button("", "danger")
        on_click(self.cancel, forward(self.cancel_pressed))
        side.addWidget(self.cancel)
        middle.addLayout(side, 2)
        layout.addLayout(middle, 1)

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.show_view(self._view)

    def show_frame(self, packet: FramePacket) -> None:
        self.preview.show_packet(packet)

    def show_view(self, view: FlowView) -> None:
        if view.phase is not self._view.phase:
            self.preview.clear()
        self._view = view
        lang = self._lang
        self.cancel.setText(tr("common.cancel", lang))
        guidance = tr(f"guide.{view.guidance}", lang) if view.guidance else ""
        self.prompt.setText("")
        if view.phase in (Phase.LIVENESS, Phase.CHALLENGE) and view.liveness is not None:
            live = view.liveness
            one_move = view.phase is Phase.CHALLENGE  # an unsure score: one move, then the door
            self.title.setText(tr("live.one_move" if one_move else "live.title", lang))
            self.progress.setRange(0, live.total)
            self.progress.setValue(live.done)
            self.progress.setFormat(tr("live.progress", lang, n=live.done, total=live.total))
            if live.status is LivenessStatus.TURNING and live.prompt is not None:
                # The preview is mirrored, so the user's left is the screen's left.
                self.prompt.setText(_ARROWS[live.prompt])
                guidance = tr(f"live.turn_{live.prompt.value}", lang)
                if live.hold_s > 0:
                    # A random hold time, shown: a recorded video cannot know it in advance.
                    guidance += "\n" + tr("live.hold", lang, s=f"{live.hold_s:g}")
            elif live.status is LivenessStatus.WAITING_FOR_FRONTAL:
                guidance = tr("live.face_camera", lang)
            elif view.guidance:
                guidance = tr(f"guide.{view.guidance}", lang)
        elif view.phase is Phase.RETRIEVE_SCAN:
            self.title.setText(tr("scan.title", lang))
            self.progress.setRange(0, max(1, view.needed))
            self.progress.setValue(view.captured)
            self.progress.setFormat(tr("scan.progress", lang, n=view.captured, total=view.needed))
        else:
            self.title.setText(tr("capture.title", lang))
            self.progress.setRange(0, max(1, view.needed))
            self.progress.setValue(view.captured)
            self.progress.setFormat(
                tr("capture.progress", lang, n=view.captured, total=view.needed)
            )
        self.guidance.setText(guidance)
