"""Config section of a site: several kiosks, each in front of its own bank, on one database."""

from __future__ import annotations

from pydantic import Field

from lockers.config._base import Section


class SiteConfig(Section):
    """How this kiosk shows itself to the other kiosks of its site.

    The kiosk's id is ``database.kiosk_id`` (unique per shared database); its lockers (the
    ``lockers:`` list) are its bank, labelled ``label_prefix + label`` in the database, so two
    banks may both number their doors 1-8 (``A-1``... and ``B-1``...).
    """

    display_name: str = Field(
        "",
        max_length=64,
        description="what customers and staff call this kiosk; empty = database.kiosk_id",
    )
    location: str = Field("", max_length=200, description="free text, e.g. men's changing room")
    label_prefix: str = Field(
        "",
        max_length=8,
        pattern=r"^[^\s]*$",
        description="put before every locker label of this kiosk's bank (A- makes 12 into A-12)",
    )
    heartbeat_s: float = Field(
        10.0, ge=1, le=300, description="how often the kiosk records that it is alive"
    )
    command_ttl_s: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="a staff command for another kiosk that is not picked up within this expires",
    )
