"""Site secrets and the site CLI: a kiosk whose template key cannot open another kiosk's
templates refuses to start; ``lockers site key export|import`` moves the keys under a
passphrase; ``db upgrade``/``sync-lockers`` keep both banks; ``lockers lockers open`` of another
bank's locker runs on its kiosk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import threading
from pathlib import Path

import pytest
from lockers_storekit import MODEL, ScriptedBoard, face
from site_kit import PIN, kiosk_settings, start_kiosk
from typer.testing import CliRunner

from lockers.cli import app
from lockers.kiosk import pins
from lockers.kiosk.dto import RetrieveOutcome
from lockers.kiosk.presence import identity_of
from lockers.kiosk.site_keys import SiteKeysError
from lockers.kiosk.startup import start_store
from lockers.store import site
from lockers.store.crypto import PinSecretError, TemplateKeyError
from lockers.store.db import Database
from lockers.store.models import utcnow

PASSPHRASE = "correct horse battery"


def cli(config: Path, *args: str, pin: str | None = None) -> tuple[int, str]:
    env = {"COLUMNS": "200", **({"LOCKERS_STAFF_PIN": pin} if pin else {})}
    result = CliRunner().invoke(app, ["--config", str(config), *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def config_of(tmp_path: Path, kiosk_id: str) -> Path:
    return tmp_path / f"{kiosk_id}.yaml"


def site_key(
    tmp_path: Path, kiosk_id: str, verb: str, keys_file: Path, passphrase: str, *extra: str
) -> tuple[int, str]:
    """``lockers site key export|import KEYS_FILE --passphrase ...`` with ``kiosk_id``'s config."""
    return cli(
        config_of(tmp_path, kiosk_id),
        "site",
        "key",
        verb,
        str(keys_file),
        "--passphrase",
        passphrase,
        *extra,
    )


def test_a_kiosk_with_another_key_refuses_to_start_until_it_imports_the_sites(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    b = start_kiosk(kiosk_settings(tmp_path, db_url, "kiosk-b"))
    made = b.rental.register(face(6), consent=True, model_version=MODEL)
    c_settings = kiosk_settings(tmp_path, db_url, "kiosk-c", key_dir="keys-c")
    key_c = c_settings.privacy.template_key_file
    with pytest.raises(TemplateKeyError, match="does not exist") as missing:
        start_store(c_settings, identity=identity_of(c_settings))
    assert "lockers site key import" in missing.value.hint
    key_c.parent.mkdir(parents=True)
    key_c.write_bytes(os.urandom(32))
    key_c.chmod(0o600)
    with pytest.raises(TemplateKeyError, match="templates kiosk 'kiosk-b' stored") as wrong:
        start_store(c_settings, identity=identity_of(c_settings))
    assert str(key_c) in wrong.value.message and "site key export" in wrong.value.hint
    with b.store.database.transaction() as session:
        kiosk_c = site.get_kiosk(session, "kiosk-c")
        assert kiosk_c is not None and not site.is_online(kiosk_c, utcnow())  # refused: offline

    export = tmp_path / "site-keys.json"
    code, out = site_key(tmp_path, "kiosk-b", "export", export, PASSPHRASE)
    assert code == 0 and "written" in out and export.stat().st_mode & 0o777 == 0o600
    assert b.settings.privacy.template_key_file.read_bytes() not in export.read_bytes()
    with pytest.raises(SiteKeysError, match="already holds another secret"):
        site_key(tmp_path, "kiosk-c", "import", export, PASSPHRASE)
    with pytest.raises(SiteKeysError, match="wrong passphrase"):
        site_key(tmp_path, "kiosk-c", "import", export, "not the passphrase", "--replace")
    code, out = site_key(tmp_path, "kiosk-c", "import", export, PASSPHRASE, "--replace")
    assert code == 0 and str(key_c) in out
    assert key_c.read_bytes() == b.settings.privacy.template_key_file.read_bytes()
    assert c_settings.privacy.pin_secret_path.read_bytes() == (
        b.settings.privacy.pin_secret_path.read_bytes()
    )
    assert key_c.with_name("template.key.old").exists()  # the replaced key is kept

    c = start_kiosk(c_settings)  # now it starts, and recognises kiosk-b's customer
    got = c.rental.retrieve(face(6), model_version=MODEL)
    assert (got.outcome, got.rental_id) == (RetrieveOutcome.AT_OTHER_KIOSK, made.rental_id)
    assert (
        "already holds the site's keys"
        in site_key(tmp_path, "kiosk-c", "import", export, PASSPHRASE)[1]
    )
    c.close()
    b.close()


def test_export_refuses_a_short_passphrase_and_an_existing_file(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    b = start_kiosk(kiosk_settings(tmp_path, db_url, "kiosk-b"))
    b.close()
    config = config_of(tmp_path, "kiosk-b")
    with pytest.raises(SiteKeysError, match="shorter than"):
        cli(config, "site", "key", "export", str(tmp_path / "k.json"), "--passphrase", "short")
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    with pytest.raises(SiteKeysError, match="already exists"):
        cli(config, "site", "key", "export", str(taken), "--passphrase", PASSPHRASE)
    with pytest.raises(SiteKeysError, match="not a lockers site keys file"):
        cli(config, "site", "key", "import", str(taken), "--passphrase", PASSPHRASE)


def test_two_kiosks_configs_keep_both_banks_and_open_across_banks_from_the_cli(
    tmp_path: Path, db_url: str
) -> None:
    a_settings = kiosk_settings(tmp_path, db_url, "kiosk-a")
    b_settings = kiosk_settings(tmp_path, db_url, "kiosk-b")
    config_a, config_b = config_of(tmp_path, "kiosk-a"), config_of(tmp_path, "kiosk-b")
    assert (
        "created 4 lockers from the config: A-1, A-2, A-3, A-4" in cli(config_a, "db", "upgrade")[1]
    )
    assert (
        "created 4 lockers from the config: B-1, B-2, B-3, B-4" in cli(config_b, "db", "upgrade")[1]
    )
    for config in (config_a, config_b, config_a):
        assert "lockers already match" in cli(config, "db", "sync-lockers")[1]
    b = start_kiosk(b_settings)
    a = start_kiosk(a_settings, ScriptedBoard())
    a.staff.add_staff("carol", PIN)
    listed = cli(config_a, "lockers", "list")[1]
    assert "A-4" in listed and "B-4" in listed and "Women's changing room" in listed
    stop = threading.Event()
    thread = threading.Thread(target=b.agent.run, args=(stop, 0.1), daemon=True)
    thread.start()
    try:
        code, out = cli(
            config_a, "lockers", "open", "B-3", "--staff", "carol", "--reason", "bag left", pin=PIN
        )
    finally:
        stop.set()
        thread.join(10)
    assert code == 0 and "locker B-3: opened sent to Women's changing room: opened" in out
    assert isinstance(b.board, ScriptedBoard) and [(c.board, c.channel) for c in b.board.calls] == [
        (0, 3)
    ]
    a.close()
    b.close()


def test_a_kiosk_with_another_pin_secret_refuses_to_start(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    b = start_kiosk(kiosk_settings(tmp_path, db_url, "kiosk-b"))
    b.staff.add_staff("carol", PIN)
    b.rental.register(face(2), consent=True, model_version=MODEL)
    c_settings = kiosk_settings(tmp_path, db_url, "kiosk-c", key_dir="keys-c")
    c_settings.privacy.template_key_file.parent.mkdir(parents=True)
    shutil.copy2(b.settings.privacy.template_key_file, c_settings.privacy.template_key_file)
    secret_c = c_settings.privacy.pin_secret_path
    secret_c.write_bytes(os.urandom(32))
    secret_c.chmod(0o600)
    with pytest.raises(PinSecretError, match="not the one the site's staff PINs") as wrong:
        start_store(c_settings, identity=identity_of(c_settings))
    assert str(secret_c) in wrong.value.message and "site key import" in wrong.value.hint
    export = tmp_path / "site-keys.json"
    site_key(tmp_path, "kiosk-b", "export", export, PASSPHRASE)
    code, out = site_key(tmp_path, "kiosk-c", "import", export, PASSPHRASE, "--replace")
    assert code == 0 and str(secret_c) in out and "template.key" not in out  # same key kept
    c = start_kiosk(c_settings)
    assert c.staff.login("carol", PIN).staff_name == "carol"
    c.close()
    b.close()


def test_a_keyed_hash_without_the_secrets_id_logs_in_and_is_rehashed_with_it() -> None:
    secret = os.urandom(32)
    salt = b"0123456789abcdef"
    material = hmac.new(secret, b"135790", hashlib.sha256).digest()
    digest = hashlib.scrypt(material, salt=salt, n=2**14, r=8, p=1, dklen=32)
    v1 = "$".join(
        [
            "scrypt-k1",
            "16384",
            "8",
            "1",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )
    assert pins.verify_pin("135790", v1, secret) and not pins.verify_pin("135791", v1, secret)
    assert not pins.is_keyed(v1) and pins.secret_id_of(v1) is None  # re-hashed at next login
    v2 = pins.hash_pin("135790", secret)
    assert pins.is_keyed(v2) and pins.secret_id_of(v2) == pins.secret_id(secret)
    assert pins.verify_pin("135790", v2, secret) and not pins.verify_pin("135790", v2, bytes(32))
