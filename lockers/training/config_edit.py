"""Change a few scalar keys of ``config.yaml`` in place, keeping its comments and layout.

PyYAML drops comments on a round trip, and the kiosk's config file is documentation as much as
data, so values are replaced on their own lines; only when the layout is beyond a line edit
(flow-style sections) is the file re-dumped, which loses comments (the caller is told).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from lockers.errors import ConfigError

_KEY_LINE = re.compile(
    r"^(?P<indent>[ \t]+)(?P<key>[A-Za-z0-9_]+):(?P<space>[ \t]*)"
    r"(?P<value>[^#\n]*?)(?P<gap>[ \t]*)(?P<comment>#.*)?$"
)


def _format(value: float | int | str | bool) -> str:
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text.removesuffix("\n...").strip()


def set_scalars(
    text: str, section: str, values: Mapping[str, float | int | str | bool]
) -> tuple[str, bool]:
    """``text`` with ``section.key: value`` set for each item.

    Returns ``(new_text, kept_comments)``.

    Raises:
        ConfigError: ``text`` is not YAML or ``section`` is not a mapping.
    """
    lines = text.splitlines(keepends=True)
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"^{re.escape(section)}:\s*(#.*)?$", line)),
        None,
    )
    if start is None and re.search(rf"^{re.escape(section)}:", text, re.MULTILINE):
        return _redump(text, section, values), False
    if start is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        body = "".join(f"  {k}: {_format(v)}\n" for k, v in values.items())
        return f"{text}{tail}{section}:\n{body}", True
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
        end += 1
    key_lines = {
        m["key"]: (i, m)
        for i in range(start + 1, end)
        if (m := _KEY_LINE.match(lines[i].rstrip("\n")))
    }
    indents = [m["indent"] for _, m in key_lines.values()]
    indent = min(indents, key=len) if indents else "  "
    last = max((i for i, m in key_lines.values() if m["indent"] == indent), default=start)
    inserted: list[str] = []
    for key, value in values.items():
        found = key_lines.get(key)
        if found is None or found[1]["indent"] != indent:
            inserted.append(f"{indent}{key}: {_format(value)}\n")
            continue
        i, m = found
        head = f"{indent}{key}:{m['space'] or ' '}{_format(value)}"
        if m["comment"]:
            column = m.start("comment")  # keep comments aligned where they were
            head = (head.ljust(column) if len(head) < column else head + " ") + m["comment"]
        lines[i] = head + "\n"
    lines[last + 1 : last + 1] = inserted
    new_text = "".join(lines)
    try:
        check = yaml.safe_load(new_text)[section]
        if all(check.get(k) == v for k, v in values.items()):
            return new_text, True
    except (yaml.YAMLError, TypeError, AttributeError):
        pass
    return _redump(text, section, values), False


def _redump(text: str, section: str, values: Mapping[str, object]) -> str:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"the config file is not valid YAML: {exc}") from None
    node = data.setdefault(section, {})
    if not isinstance(node, dict):
        raise ConfigError(f"'{section}' in the config file is not a section of keys")
    node.update(values)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def update_config_file(
    path: Path, section: str, values: Mapping[str, float | int | str | bool]
) -> bool:
    """Set ``section.key`` values in the config file at ``path`` atomically, after checking the
    result is a valid kiosk config; the previous file is kept as ``<name>.bak``.

    Returns whether comments were kept. Raises ConfigError (the file is left unchanged).
    """
    from lockers.config import load_settings

    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    new, kept = set_scalars(old, section, values)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        load_settings(tmp, env={})  # raises ConfigError: never write a config the kiosk rejects
        if path.is_file():
            path.with_name(path.name + ".bak").write_text(old, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return kept
