"""Config section of the site console (``lockers console``): sessions, login limits, metrics."""

from __future__ import annotations

from pydantic import Field, model_validator

from lockers.config._base import ResolvedPath, Section


class ConsoleConfig(Section):
    """How the web console serves staff: session lifetime, login lockout, alerts, metrics."""

    session_idle_min: float = Field(
        30.0, gt=0, le=24 * 60, description="a console session ends after this long unused"
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="failed logins per account and per address before lockout"
    )
    login_lockout_min: float = Field(
        15.0, gt=0, le=24 * 60, description="how long an account or address stays locked"
    )
    door_open_alert_s: float = Field(
        120.0, gt=0, description="a door left open longer than this raises an alert"
    )
    pad_alert_count: int = Field(
        3, ge=1, description="presentation attacks at one kiosk that raise an alert..."
    )
    pad_alert_window_min: float = Field(10.0, gt=0, description="...within this many minutes")
    metrics_public: bool = Field(
        False, description="serve /metrics without a bearer token (only on a trusted network)"
    )
    page_size: int = Field(50, ge=5, le=1000, description="audit rows per page")
    max_wait_s: float = Field(
        30.0, gt=0, le=300, description="the longest ?wait= an API action may ask for"
    )
    tls_cert_file: ResolvedPath | None = Field(
        None, description="PEM certificate: serve HTTPS directly"
    )
    tls_key_file: ResolvedPath | None = Field(None, description="PEM private key of tls_cert_file")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="reverse proxies trusted for X-Forwarded-Proto/For (comma-separated)",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("console.tls_cert_file and console.tls_key_file go together")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None
