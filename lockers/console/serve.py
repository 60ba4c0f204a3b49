"""Running the console: open the site's database, build the app, serve it with uvicorn."""

from __future__ import annotations

import ipaddress

from lockers.config import Settings
from lockers.store.db import Database
from lockers.store.schema import require_current_schema


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, tls: bool) -> str | None:
    """What to tell an operator who serves the console beyond this machine without TLS."""
    if is_loopback(host) or tls:
        return None
    return (
        f"the console listens on {host} without TLS: passwords and session cookies cross the "
        "network in clear. Put it behind a reverse proxy with HTTPS (see docs/console.md) and "
        "keep --host 127.0.0.1, or set console.tls_cert_file and console.tls_key_file"
    )


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve until interrupted.

    Raises:
        StoreError: the database cannot be reached or its schema is not the code's.
    """
    import uvicorn

    from lockers.console.app import create_app

    database = Database(settings.database_url, settings.database.busy_timeout_s)
    try:
        require_current_schema(database)
        app = create_app(settings, database)
        config = settings.console
        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=config.forwarded_allow_ips,
            ssl_certfile=None if config.tls_cert_file is None else str(config.tls_cert_file),
            ssl_keyfile=None if config.tls_key_file is None else str(config.tls_key_file),
            log_level="info",
            server_header=False,
        )
    finally:
        database.dispose()
