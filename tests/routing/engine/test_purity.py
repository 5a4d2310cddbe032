"""The engine stays pure: no Django, no clock, no I/O, no eval."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import routing.engine

ENGINE_DIR = Path(routing.engine.__file__).parent
MODULES = sorted(ENGINE_DIR.glob("*.py"))
ALLOWED_IMPORTS = {
    "__future__",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",
    "json",
    "math",
    # Validation only (the configuration schema): no I/O, no settings, no clock.
    "pydantic",
    "pydantic_core",
    "re",
    "typing",
    "unicodedata",
    "zoneinfo",
}
FORBIDDEN_CALLS = {
    "now",
    "today",
    "utcnow",
    "time",
    "open",
    "eval",
    "exec",
    "compile",
    "__import__",
}


def test_the_engine_has_modules_to_check() -> None:
    assert {path.name for path in MODULES} >= {"__init__.py", "types.py", "route.py"}


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_engine_modules_import_only_the_standard_library_and_each_other(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name in ALLOWED_IMPORTS or name.startswith("routing.engine"), (path.name, name)


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_engine_modules_never_read_the_clock_or_do_io(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert name not in FORBIDDEN_CALLS, (path.name, node.lineno, name)


@pytest.mark.parametrize("path", MODULES, ids=[path.name for path in MODULES])
def test_engine_modules_use_postponed_annotations(path: Path) -> None:
    assert "from __future__ import annotations" in path.read_text()
