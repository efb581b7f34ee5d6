"""What ``nox -s release``, ``nox -s matrix`` and ``nox -s publish`` share.

The distributions of this repository and what their ``pyproject.toml`` declares;
``releases.toml`` (the commit each published version was built from, so an older
release can be rebuilt without its tag); building, checking built artefacts; a
local package index (pypiserver on a free loopback port) and pip runs that see
nothing but it. Runs on Python 3.11+ with ``build``, ``twine``, ``pypiserver`` and
``packaging`` installed (the nox sessions install them).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RELEASES = ROOT / "releases.toml"
CORE = "sinetstream-core"
PLUGINS = ("sinetstream-queue", "sinetstream-kafka", "sinetstream-mqtt")


@dataclass(frozen=True)
class Package:
    """One distribution under ``packages/`` (or under a tree unpacked from a commit)."""

    path: Path

    @cached_property
    def pyproject(self) -> dict[str, Any]:
        """The parsed ``pyproject.toml``."""
        with open(self.path / "pyproject.toml", "rb") as f:
            return tomllib.load(f)

    @property
    def project(self) -> dict[str, Any]:
        """The ``[project]`` table."""
        project: dict[str, Any] = self.pyproject["project"]
        return project

    @property
    def name(self) -> str:
        """The distribution name, e.g. ``sinetstream-kafka``."""
        return str(self.project["name"])

    @property
    def import_name(self) -> str:
        """The one top-level package the wheel holds, e.g. ``sinetstream_kafka``."""
        packages = self.pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
        return Path(packages[0]).name

    @property
    def version(self) -> str:
        """``__version__`` of the file ``[tool.hatch.version]`` reads."""
        source = self.path / self.pyproject["tool"]["hatch"]["version"]["path"]
        match = re.search(r'^__version__ = "([^"]+)"', source.read_text(), re.MULTILINE)
        if match is None:
            raise ValueError(f"no __version__ in {source}")
        return match[1]

    @property
    def requirements(self) -> list[Requirement]:
        """The ``[project] dependencies``, parsed."""
        return [Requirement(r) for r in self.project.get("dependencies", [])]

    def floor(self, distribution: str) -> str | None:
        """The lowest version of ``distribution`` this package declares (its ``>=``)."""
        for requirement in self.requirements:
            if canonicalize_name(requirement.name) == canonicalize_name(distribution):
                return _floor(requirement)
        return None

    @property
    def entry_points(self) -> dict[str, dict[str, str]]:
        """Entry-point groups as a wheel's ``entry_points.txt`` must hold them."""
        groups: dict[str, dict[str, str]] = {}
        scripts = self.project.get("scripts")
        if scripts:
            groups["console_scripts"] = dict(scripts)
        for group, entries in self.project.get("entry-points", {}).items():
            groups[group] = dict(entries)
        return groups


def packages(root: Path = ROOT) -> list[Package]:
    """Core first, then the plugins."""
    return [Package(root / "packages" / name) for name in (CORE, *PLUGINS)]


def _floor(requirement: Requirement) -> str | None:
    floors = [s.version for s in requirement.specifier if s.operator == ">="]
    return floors[0] if floors else None


def lowest_pins(requirements: list[Requirement]) -> list[str]:
    """``name[extras]==floor`` for every third-party requirement with a ``>=`` floor."""
    pins: list[str] = []
    for requirement in requirements:
        floor = _floor(requirement)
        if floor is None or requirement.name.startswith("sinetstream"):
            continue
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pin = f"{requirement.name}{extras}=={floor}"
        if pin not in pins:
            pins.append(pin)
    return pins


def third_party_names(requirements: list[Requirement]) -> list[str]:
    """``name[extras]`` of every requirement that is not one of ours, unpinned."""
    names = [
        f"{r.name}[{','.join(sorted(r.extras))}]" if r.extras else r.name
        for r in requirements
        if not r.name.startswith("sinetstream")
    ]
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- releases.toml
@dataclass(frozen=True)
class Release:
    """One published version and the commit its artefacts were built from."""

    distribution: str
    version: str
    commit: str


def releases(path: Path = RELEASES) -> list[Release]:
    """Every entry of ``releases.toml``."""
    with open(path, "rb") as f:
        entries = tomllib.load(f)["release"]
    return [Release(e["distribution"], e["version"], e["commit"]) for e in entries]


def oldest_release(distribution: str, floor: str, path: Path = RELEASES) -> Release | None:
    """The lowest recorded release of ``distribution`` at or above ``floor``."""
    from packaging.version import Version

    fitting = [
        r
        for r in releases(path)
        if r.distribution == distribution and Version(r.version) >= Version(floor)
    ]
    return min(fitting, key=lambda r: Version(r.version), default=None)


def tree_at(commit: str, into: Path) -> Path:
    """The repository's ``packages/`` and root ``pyproject.toml`` (the tests' pytest
    configuration) as of ``commit``, unpacked under ``into`` with git archive.

    Unpacked once per commit; removing ``into`` removes it.
    """
    target = into / commit[:12]
    if not target.exists():
        archive = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "archive",
                "--format=tar",
                commit,
                "packages",
                "pyproject.toml",
            ],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    return target


# --------------------------------------------------------------------------- building
def build(package: Package, outdir: Path, *, wheel_only: bool = False) -> list[Path]:
    """Build ``package`` (``python -m build``) into ``outdir``; return the new files."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    kinds = ["--wheel"] if wheel_only else []
    run([sys.executable, "-m", "build", *kinds, "--outdir", str(outdir), str(package.path)])
    return sorted(set(outdir.iterdir()) - before)


def _is_cache_or_test(name: str) -> bool:
    parts = name.split("/")
    return any(
        p in {"__pycache__", "tests", ".pytest_cache", ".mypy_cache"} for p in parts
    ) or name.endswith((".pyc", ".pyo"))


def check_wheel(wheel: Path, package: Package) -> list[str]:
    """What is wrong with a wheel of ``package``; empty when nothing is."""
    problems = []
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next((n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")), None)
        if info is None:
            return [f"{wheel.name}: no .dist-info/METADATA"]
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = (
            zf.read(f"{info}/entry_points.txt").decode()
            if f"{info}/entry_points.txt" in names
            else ""
        )
    if f"{package.import_name}/py.typed" not in names:
        problems.append(f"{wheel.name}: no {package.import_name}/py.typed")
    if parse_entry_points(entry_points) != package.entry_points:
        problems.append(
            f"{wheel.name}: entry points {parse_entry_points(entry_points)} != pyproject's"
        )
    if not any(n.startswith(f"{info}/licenses/LICENSE") for n in names):
        problems.append(f"{wheel.name}: no licence file in {info}/licenses/")
    if "License-Expression: Apache-2.0" not in metadata:
        problems.append(f"{wheel.name}: METADATA has no License-Expression: Apache-2.0")
    stray = [n for n in names if _is_cache_or_test(n)]
    stray += [n for n in names if n.split("/")[0] not in {package.import_name, info}]
    if stray:
        problems.append(f"{wheel.name}: holds {sorted(set(stray))[:5]}")
    return problems


def check_sdist(sdist: Path) -> list[str]:
    """What is wrong with an sdist: no licence, or caches inside (its tests belong there)."""
    with tarfile.open(sdist) as tar:
        names = [m.name.split("/", 1)[-1] for m in tar.getmembers()]
    problems = []
    if "LICENSE" not in names:
        problems.append(f"{sdist.name}: no LICENSE")
    caches = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]
    if caches:
        problems.append(f"{sdist.name}: holds {caches[:5]}")
    return problems


def parse_entry_points(text: str) -> dict[str, dict[str, str]]:
    """``entry_points.txt`` as ``{group: {name: value}}``."""
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = groups.setdefault(line.strip("[]"), {})
        elif current is not None:
            name, _, value = line.partition("=")
            current[name.strip()] = value.strip()
    return groups


# --------------------------------------------------------------------------- processes
def run(argv: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run a command, echoing it; fail on a non-zero exit."""
    print("$", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, cwd=cwd, env=env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def isolated_pip_env(**extra: str) -> dict[str, str]:
    """The environment for a pip that reads no config file and no PIP_* variable.

    So ``--index-url`` is the only place it looks: no extra index, no find-links,
    no constraints from this machine.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)
    return env


class LocalIndex:
    """A pypiserver on a free loopback port serving a temporary directory; stopped on exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The simple index, for ``pip --index-url``."""
        return f"http://127.0.0.1:{self.port}/simple/"

    @property
    def upload_url(self) -> str:
        """Where twine uploads."""
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> LocalIndex:
        self.folder.mkdir(parents=True, exist_ok=True)
        server = Path(sys.executable).with_name("pypi-server")
        argv = [
            str(server), "run", "--host", "127.0.0.1", "--port", str(self.port),
            "--authenticate", ".", "--passwords", ".", "--disable-fallback",
            "--log-file", str(self.folder.with_suffix(".log")), str(self.folder),
        ]  # fmt: skip
        print("$", " ".join(argv), flush=True)
        self._proc = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 30
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"pypiserver did not answer on {self.url}")
            time.sleep(0.1)
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def upload(self, files: list[Path]) -> None:
        """``twine upload`` to this index (it accepts any credentials)."""
        twine = Path(sys.executable).with_name("twine")
        run([
            str(twine), "upload", "--non-interactive", "--disable-progress-bar",
            "--repository-url", self.upload_url, "-u", "release", "-p", "release",
            *map(str, files),
        ])  # fmt: skip

    def pip_install(self, python: Path | str, *args: str) -> None:
        """``pip install`` into ``python``'s environment from this index alone."""
        run(
            [str(python), "-m", "pip", "install", "--no-cache-dir", "--index-url", self.url, *args],
            env=isolated_pip_env(),
        )


def make_venv(path: Path) -> Path:
    """A new virtual environment at ``path``; returns its python."""
    shutil.rmtree(path, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(path)])
    return path / "bin" / "python"
