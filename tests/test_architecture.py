"""The house rules, executable: layers point down and heavy libraries stay in their rooms."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_importing_the_package_and_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, lockers, lockers.cli, lockers.config, lockers.vision, lockers.store, "
        "lockers.hardware, lockers.kiosk\n"
        "heavy = [m for m in ('torch', 'cv2', 'facenet_pytorch', 'onnxruntime', 'PySide6', "
        "'sqlalchemy', 'serial') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"loaded at import: {out.stdout.strip()}"


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _nested_definitions(node: ast.AST) -> list[ast.AST]:
    """The outermost functions and classes defined inside ``node`` (not inside those)."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, _DEFINITIONS):
            found.append(child)
        else:
            found.extend(_nested_definitions(child))
    return found


def _own_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines less those of what it defines inside (a CLI's ``register(app)`` holds
    its commands: each command is measured on its own)."""
    total = (node.end_lineno or node.lineno) - node.lineno + 1
    for inner in _nested_definitions(node):
        total -= (inner.end_lineno or inner.lineno) - inner.lineno + 1  # type: ignore[attr-defined]
    return total


def _package_trees() -> list[tuple[Path, ast.Module]]:
    return [
        (path.relative_to(REPO), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted((REPO / "lockers").rglob("*.py"))
    ]


def test_modules_and_functions_are_read_in_one_sitting() -> None:
    too_long: list[str] = []
    for name, tree in _package_trees():
        lines = (REPO / name).read_text(encoding="utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                own = _own_lines(node)
                if own > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}(): {own} own lines")
    assert not too_long, "split along the seams:\n" + "\n".join(too_long)


def test_no_assert_is_a_runtime_check() -> None:
    """``python -O`` strips asserts: the package raises explicit errors instead."""
    found = [
        f"{name}:{node.lineno}"
        for name, tree in _package_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
    ]
    assert not found, "assert used as a runtime check: " + ", ".join(found)
