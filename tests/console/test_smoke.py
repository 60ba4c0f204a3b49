from __future__ import annotations

from console_kit import Console, logged_in


def test_overview_after_login(console: Console) -> None:
    client = logged_in(console, "alice")
    response = client.get("/")
    assert response.status_code == 200, response.text
    assert "Locker" in response.text or "grid" in response.text
