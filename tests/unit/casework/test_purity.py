"""The casework package stays pure: no I/O frameworks, no logging set-up, no clock reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[3] / "ehcp" / "casework"
FORBIDDEN_MODULES = {
    "kafka",
    "aiokafka",
    "faust",
    "httpx",
    "requests",
    "fastapi",
    "asyncio",
    "logging",
    "structlog",
    "uvicorn",
    "socket",
}
FORBIDDEN_CALLS = {"now", "today", "utcnow"}
SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_no_io_and_reads_no_clock(path: Path) -> None:
    """No casework module imports Kafka, Faust, HTTP, asyncio or logging, or calls now()/today()."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in FORBIDDEN_CALLS, f"{path.name} calls .{node.func.attr}()"


def test_there_are_modules_to_check() -> None:
    """The purity scan really finds the package's modules."""
    assert len(SOURCES) >= 10
