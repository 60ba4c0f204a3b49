"""Live camera preview: draws only the newest frame (stale ones are simply replaced), mirrored
like a looking glass, with the face boxes (green: a good frame, amber: not yet)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from lockers.ui.camera_worker import FramePacket


class CameraPreview(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._packet: FramePacket | None = None
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_packet(self, packet: FramePacket) -> None:
        self._packet = packet
        if self.isVisible():
            self.update()

    def clear(self) -> None:
        self._packet = None
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#000000"))
        packet = self._packet
        if packet is None:
            painter.end()
            return
        height, width = packet.image.shape[:2]
        # Mirrored: the user moves left, the picture too. (numpy: QImage.mirrored is deprecated
        # and its replacement is too new for every PySide6 we support.)
        pixels = np.ascontiguousarray(packet.image[:, ::-1])
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        scale = min(self.width() / width, self.height() / height)
        draw_w, draw_h = width * scale, height * scale
        x0, y0 = (self.width() - draw_w) / 2, (self.height() - draw_h) / 2
        painter.drawImage(QRectF(x0, y0, draw_w, draw_h), image)
        for i, (x1, y1, x2, y2) in enumerate(packet.boxes):
            good = i == 0 and packet.subject_ok
            colour = QColor("#43a047") if good else QColor("#ffb300")
            if i > 0:
                colour = QColor("#e53935")
            painter.setPen(QPen(colour, 5))
            mx1, mx2 = width - x2, width - x1  # mirror the box with the picture
            painter.drawRoundedRect(
                QRectF(x0 + mx1 * scale, y0 + y1 * scale, (mx2 - mx1) * scale, (y2 - y1) * scale),
                12,
                12,
            )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.end()
