"""The casework package and the stream stages stay pure: no I/O frameworks, no logging set-up, no clock reads.

``lint-imports`` (make lint) enforces the import side as contracts in pyproject.toml; this test
also catches clock reads, which no import contract can see.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
PACKAGES = (ROOT / "ehcp" / "casework", ROOT / "streams" / "stages")
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
SOURCES = sorted(path for package in PACKAGES for path in package.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_no_io_and_reads_no_clock(path: Path) -> None:
    """No casework or stage module imports Kafka, Faust, HTTP, asyncio or logging, or calls now()/today()."""
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
    assert any("stages" in path.parts for path in SOURCES)
