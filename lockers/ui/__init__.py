"""The PySide6 touch UI (the only package that imports Qt).

:func:`lockers.ui.launch.run_window` runs it; :func:`lockers.ui.launch.create_window` builds it
without an event loop (tests, screenshots). Screens talk to the kiosk services only through
:class:`lockers.ui.ports.KioskBackend`, on the controller's service thread.
"""
