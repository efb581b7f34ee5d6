"""The package graph: backends build on the public API and the SPI only.

A backend that imports ``sinetstream._*`` breaks when the core reorganises its
internals, so it could not be released against an older or newer core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[2]
BACKENDS = sorted(p for p in PACKAGES.glob("sinetstream-*/src/sinetstream_*") if p.is_dir())


def _private_core_imports(source: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sinetstream" and any(p.startswith("_") for p in parts[1:2]):
                found.append(f"{source.name}:{node.lineno}: {name}")
    return found


def test_the_backends_are_found() -> None:
    if not BACKENDS:
        pytest.skip("not in the repository: no sibling backend packages")
    assert {p.name for p in BACKENDS} >= {"sinetstream_kafka", "sinetstream_mqtt"}


@pytest.mark.parametrize("package", BACKENDS, ids=lambda p: p.name)
def test_backend_imports_no_private_core_module(package: Path) -> None:
    found = [hit for source in package.rglob("*.py") for hit in _private_core_imports(source)]
    assert found == [], "backends may import sinetstream and sinetstream.spi only"


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text(
        "import sinetstream.spi\nfrom sinetstream import MessageReader\n"
        "from sinetstream._codec import Encoder\nfrom sinetstream import _pipeline\n"
    )
    assert [hit.split(": ")[1] for hit in _private_core_imports(source)] == [
        "sinetstream._codec",
        "sinetstream._codec.Encoder",
        "sinetstream._pipeline",
    ]
