"""The PySide6 touch UI (the only package that imports Qt). Start it with
:func:`lockers.ui.launch.run_kiosk_window`; it talks to the kiosk services only through
:class:`lockers.ui.ports.KioskBackend`."""
