"""The embedding weights' API under its original name; it lives in :mod:`lockers.vision.modelstore`.

Kept so that code written against ``lockers.vision.weights`` (tests, scripts, other branches)
keeps working; new code imports from :mod:`lockers.vision.modelstore`.
"""

from lockers.vision.modelstore import *  # noqa: F403
from lockers.vision.modelstore import __all__ as __all__
