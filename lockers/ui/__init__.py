"""The PySide6 touch UI (the only package that imports Qt)."""
