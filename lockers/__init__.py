"""Lockers: a face-recognition smart-locker kiosk.

Importing this package loads no heavy library (torch, OpenCV, Qt, SQLAlchemy, pyserial);
each lives behind the sub-package that needs it.
"""

__version__ = "0.1.0"
