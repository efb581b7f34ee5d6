"""The release tooling: what it reads from the packages, how it judges a wheel, and that
releases.toml rebuilds the recorded releases."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import release_lib
from release_lib import CORE, Package, packages

PACKAGES = {p.name: p for p in packages()}


def _spi(package: Package, name: str) -> str:
    text = (package.path / "src" / package.import_name / "_version.py").read_text()
    match = re.search(rf'^{name} = "([^"]+)"', text, re.MULTILINE)
    assert match is not None, f"{name} missing in {package.name}"
    return match[1]


@pytest.mark.parametrize("name", sorted(set(PACKAGES) - {CORE}))
def test_plugin_declares_a_core_range_that_provides_its_spi(name: str) -> None:
    plugin, core = PACKAGES[name], PACKAGES[CORE]
    floor = plugin.floor(CORE)
    assert floor is not None
    (requirement,) = [r for r in plugin.requirements if r.name == CORE]
    assert core.version in requirement.specifier
    needed = _spi(plugin, "SPI_VERSION_REQUIRED")
    assert Version(floor) >= Version(needed), "core X.Y is the first to provide SPI X.Y"
    assert Version(needed) <= Version(_spi(core, "SPI_VERSION"))


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_changelog_describes_the_current_version(name: str) -> None:
    package = PACKAGES[name]
    changelog = (package.path / "CHANGELOG.md").read_text()
    assert f"## [{package.version}] - " in changelog
    assert "## [1.0.0] - " in changelog


def test_lowest_pins_take_each_floor_and_keep_extras() -> None:
    requirements = [
        Requirement("sinetstream-core>=1.1,<2"),
        Requirement("kafka-python[crc32c]>=3.0,<4"),
        Requirement("promise>=2.3,<3"),
        Requirement("unbounded"),
        Requirement("promise>=2.3,<3"),  # core and plugin both declare it
    ]
    assert release_lib.lowest_pins(requirements) == ["kafka-python[crc32c]==3.0", "promise==2.3"]
    assert release_lib.third_party_names(requirements) == [
        "kafka-python[crc32c]",
        "promise",
        "unbounded",
    ]


def _wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


GOOD_WHEEL = {
    "sinetstream_queue/__init__.py": "",
    "sinetstream_queue/py.typed": "",
    "sinetstream_queue-9.dist-info/METADATA": "License-Expression: Apache-2.0\n",
    "sinetstream_queue-9.dist-info/licenses/LICENSE": "Apache",
    "sinetstream_queue-9.dist-info/entry_points.txt": "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
        for group, entries in PACKAGES["sinetstream-queue"].entry_points.items()
    ),
}


def test_a_complete_wheel_passes(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "good.whl", GOOD_WHEEL)
    assert release_lib.check_wheel(wheel, PACKAGES["sinetstream-queue"]) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sinetstream_queue/py.typed": None}, "no sinetstream_queue/py.typed"),
        ({"sinetstream_queue-9.dist-info/licenses/LICENSE": None}, "no licence file"),
        (
            {"sinetstream_queue-9.dist-info/entry_points.txt": "[sinetstream.reader]\n"},
            "entry points",
        ),
        ({"sinetstream_queue/__pycache__/x.cpython-311.pyc": ""}, "holds"),
        ({"tests/test_queue.py": ""}, "holds"),
        ({"sinetstream_queue/tests/test_x.py": ""}, "holds"),
    ],
)
def test_an_incomplete_or_littered_wheel_is_refused(
    tmp_path: Path, change: dict[str, str | None], problem: str
) -> None:
    files = {**GOOD_WHEEL, **change}
    wheel = _wheel(tmp_path / "bad.whl", {k: v for k, v in files.items() if v is not None})
    problems = release_lib.check_wheel(wheel, PACKAGES["sinetstream-queue"])
    assert any(problem in p for p in problems), problems


def test_every_recorded_release_is_the_version_its_commit_says() -> None:
    for release in release_lib.releases():
        package = PACKAGES[release.distribution]
        source = (
            package.path.relative_to(release_lib.ROOT) / "src" / package.import_name / "_version.py"
        )
        text = subprocess.run(
            ["git", "-C", str(release_lib.ROOT), "show", f"{release.commit}:{source}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f'__version__ = "{release.version}"' in text, release


def test_oldest_release_at_or_above_a_floor() -> None:
    oldest = release_lib.oldest_release(CORE, "1.0")
    assert oldest is not None
    assert oldest.version == "1.0.0"
    assert release_lib.oldest_release(CORE, "99.0") is None


def test_a_recorded_release_is_rebuilt_from_its_commit(tmp_path: Path) -> None:
    release = release_lib.oldest_release(CORE, "1.0")
    assert release is not None
    tree = release_lib.tree_at(release.commit, tmp_path)
    built = release_lib.build(Package(tree / "packages" / CORE), tmp_path / "out", wheel_only=True)
    assert [p.name for p in built] == ["sinetstream_core-1.0.0-py3-none-any.whl"]
