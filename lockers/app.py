"""Composition root: builds the kiosk from settings (real or demo parts)."""
