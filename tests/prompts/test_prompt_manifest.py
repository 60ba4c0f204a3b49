"""A manifest edited by hand or left by another format is read as far as it is well formed: the
rest is rebuilt, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from lockers.prompts.manifest import FORMAT, MANIFEST_NAME, Manifest


def test_a_malformed_manifest_is_read_as_far_as_it_is_well_formed(tmp_path: Path) -> None:
    good = {"sha256": "abc", "voice": "ko", "seconds": 1.0}
    data = {
        "format": FORMAT,
        "engine": "espeak-ng",
        "prompts": {"ko": {"home.register": good, "home.retrieve": "oops"}, "en": ["x"]},
    }
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data), encoding="utf-8")
    manifest = Manifest.load(tmp_path)
    assert manifest.entry("ko", "home.register") == good
    assert manifest.entry("ko", "home.retrieve") == {}
    assert manifest.entry("en", "home.register") == {}
