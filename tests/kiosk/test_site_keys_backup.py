"""``site key import --replace`` keeps every key it replaces (real files, real sealing)."""

from __future__ import annotations

import secrets
from pathlib import Path

from lockers.kiosk.site_keys import SiteSecrets, export_keys, import_keys
from lockers.store.crypto import KEY_BYTES

PASSPHRASE = "correct horse battery"


def _export(folder: Path, name: str) -> tuple[Path, SiteSecrets]:
    got = SiteSecrets(secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES))
    path = folder / name
    export_keys(path, got, PASSPHRASE)
    return path, got


def test_a_second_replace_keeps_the_first_backup(tmp_path: Path) -> None:
    key_file, pin_file = tmp_path / "keys" / "template.key", tmp_path / "keys" / "pin.secret"
    original_key = secrets.token_bytes(KEY_BYTES)
    key_file.parent.mkdir()
    key_file.write_bytes(original_key)
    first, first_secrets = _export(tmp_path, "first.keys")
    second, second_secrets = _export(tmp_path, "second.keys")

    import_keys(first, PASSPHRASE, key_file, pin_file, replace=True)
    import_keys(second, PASSPHRASE, key_file, pin_file, replace=True)

    assert key_file.read_bytes() == second_secrets.template_key
    # The kiosk's own first key (it may still open templates it stored) is not overwritten.
    assert key_file.with_name("template.key.old").read_bytes() == original_key
    assert key_file.with_name("template.key.old.1").read_bytes() == first_secrets.template_key
    assert pin_file.with_name("pin.secret.old").read_bytes() == first_secrets.pin_secret
