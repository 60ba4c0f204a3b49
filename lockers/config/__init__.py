"""Typed configuration: ``config.yaml`` plus ``LOCKERS_<SECTION>__<KEY>`` environment overrides."""

from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.config.liveness import AntiSpoofModelConfig, LivenessSettings
from lockers.config.loader import find_config_file, load_settings
from lockers.config.schema import Settings
from lockers.config.site import SiteConfig
from lockers.config.store import DEFAULT_KIOSK_ID, DatabaseConfig, PrivacyConfig
from lockers.config.ui import UiConfig
from lockers.config.vision import CameraConfig, DetectionConfig, QualityConfig, RecognitionConfig

__all__ = [
    "DEFAULT_KIOSK_ID",
    "AntiSpoofModelConfig",
    "BoardConfig",
    "CameraConfig",
    "DatabaseConfig",
    "DetectionConfig",
    "LivenessSettings",
    "LockerConfig",
    "PrivacyConfig",
    "QualityConfig",
    "RecognitionConfig",
    "Settings",
    "SiteConfig",
    "UiConfig",
    "find_config_file",
    "load_settings",
]
