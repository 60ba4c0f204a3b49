"""Playwright driving Debian's Chromium headless (the system binary: Playwright's own browsers
are never downloaded), shared by the console's browser tests."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

WAIT_MS = 20_000  # pages refresh themselves every 1-5 s; a loaded machine gets slack


@contextlib.contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh page of a headless Chromium, closed (with the browser) at the end."""
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.set_default_timeout(WAIT_MS)
        playwright_api.expect.set_options(timeout=WAIT_MS)
        try:
            yield page
        finally:
            browser.close()


def log_in(page: Any, url: str, name: str, password: str) -> None:
    page.goto(f"{url}/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button:has-text('Log in')")


def submit_open(
    page: Any, url: str, label: str, note: str, clicked: list[float] | None = None
) -> None:
    """Open locker ``label``'s page and submit "open" with the first preset reason; the click's
    ``time.monotonic()`` is appended to ``clicked``."""
    page.goto(f"{url}/lockers/{label}")
    form = page.locator("form.action", has=page.locator("input[name=action][value=open]"))
    form.locator("select[name=reason]").select_option(index=0)
    form.locator("input[name=note]").fill(note)
    button = form.locator("button[type=submit]")
    button.wait_for()
    if clicked is not None:
        clicked.append(time.monotonic())
    button.click()
