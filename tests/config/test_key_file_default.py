"""``privacy.template_key_file`` follows ``data_dir`` unless a path is given, and a key that does
not decrypt the stored templates names the file it was read from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lockers.config import load_settings
from lockers.kiosk.startup import connect, open_cipher, open_database, start_store
from lockers.store import rentals
from lockers.store.crypto import TemplateKeyError
from lockers.store.models import Locker, LockerStatus, utcnow
from lockers.store.schema import upgrade

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_default_key_file_follows_data_dir(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, data_dir="var/kiosk"), env={})
    assert settings.privacy.template_key_file == (tmp_path / "var/kiosk/template.key").resolve()
    moved = load_settings(_config(tmp_path), env={"LOCKERS_DATA_DIR": str(tmp_path / "demo")})
    assert moved.privacy.template_key_file == tmp_path / "demo" / "template.key"


def test_an_explicit_key_file_wins(tmp_path: Path) -> None:
    config = _config(tmp_path, data_dir="var", privacy={"template_key_file": "keys/k.key"})
    assert load_settings(config, env={}).privacy.template_key_file == tmp_path / "keys/k.key"
    env = {"LOCKERS_PRIVACY__TEMPLATE_KEY_FILE": str(tmp_path / "env.key")}
    assert load_settings(config, env=env).privacy.template_key_file == tmp_path / "env.key"


def test_the_shipped_config_follows_data_dir(tmp_path: Path) -> None:
    env = {"LOCKERS_DATA_DIR": str(tmp_path / "demo-data")}
    settings = load_settings(REPO / "config.yaml", env=env)
    assert settings.privacy.template_key_file == tmp_path / "demo-data" / "template.key"


def _store_one_template(config: Path, data_dir: Path) -> None:
    settings = load_settings(config, env={"LOCKERS_DATA_DIR": str(data_dir)})
    database = connect(settings)
    upgrade(database)
    database.dispose()
    store, _ = start_store(settings)
    try:
        with store.database.transaction() as session:
            locker = session.get(Locker, 1)
            assert locker is not None
            locker.status = LockerStatus.OCCUPIED
            rental = rentals.create_rental(
                session,
                locker,
                now=utcnow(),
                max_hours=1,
                retention_hours=1,
                model_version="m",
                kiosk_id="kiosk-1",
            )
            vector = np.ones((1, 512), dtype=np.float32) / np.sqrt(512)
            rentals.add_templates(session, rental, vector, store.cipher)
    finally:
        store.close()


def test_db_check_on_another_data_dir_reads_that_dirs_key(tmp_path: Path) -> None:
    """The demo's case: data and key in ``--data-dir``; ``db check`` pointed there works."""
    lockers = [{"label": "1", "board": 0, "channel": 1}]
    config = _config(tmp_path, data_dir="data", lockers=lockers)
    demo_dir = tmp_path / "demo"
    _store_one_template(config, demo_dir)
    assert (demo_dir / "template.key").is_file()
    settings = load_settings(config, env={"LOCKERS_DATA_DIR": str(demo_dir)})
    store, report = start_store(settings)
    store.close()
    assert report.clean


def test_a_wrong_key_says_which_file_it_read(tmp_path: Path) -> None:
    lockers = [{"label": "1", "board": 0, "channel": 1}]
    config = _config(tmp_path, data_dir="data", lockers=lockers)
    _store_one_template(config, tmp_path / "data")
    wrong = tmp_path / "other.key"
    wrong.write_bytes(b"k" * 32)
    wrong.chmod(0o600)
    env = {"LOCKERS_PRIVACY__TEMPLATE_KEY_FILE": str(wrong)}
    settings = load_settings(config, env=env)
    database = open_database(settings)
    try:
        with pytest.raises(TemplateKeyError, match="cannot be decrypted") as err:
            open_cipher(settings, database)
    finally:
        database.dispose()
    assert str(wrong) in err.value.message
    assert "data_dir" in err.value.hint
