"""Templates are encrypted under a 0600 key file; a missing or wrong key is a clear error."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from lockers.store.crypto import TemplateCipher, TemplateKeyError, load_or_create_key


def test_key_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "template.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert load_or_create_key(path) == key


def test_round_trip_and_wrong_key(tmp_path: Path) -> None:
    vector = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    cipher = TemplateCipher.from_file(tmp_path / "a.key")
    blob = cipher.encrypt_embedding(vector, "m1")
    assert vector.tobytes() not in blob
    np.testing.assert_array_equal(cipher.decrypt_embedding(blob, "m1"), vector)
    other = TemplateCipher.from_file(tmp_path / "b.key")
    with pytest.raises(TemplateKeyError, match="cannot be decrypted") as err:
        other.decrypt_embedding(blob, "m1")
    assert "template_key_file" in err.value.hint
    with pytest.raises(TemplateKeyError):
        cipher.decrypt_embedding(blob, "another-model")  # bound to its model version


@pytest.mark.parametrize(
    ("content", "mode", "match"),
    [
        (None, None, "does not exist"),
        (b"short", 0o600, "holds 5 bytes"),
        (b"k" * 32, 0o644, "readable by other users"),
    ],
)
def test_bad_key_files(tmp_path: Path, content: bytes | None, mode: int | None, match: str) -> None:
    path = tmp_path / "template.key"
    if content is not None:
        path.write_bytes(content)
        assert mode is not None
        path.chmod(mode)
    with pytest.raises(TemplateKeyError, match=match):
        load_or_create_key(path, create=False)
