"""``nox -s release``: build every distribution, check it, publish it to a local index, and
install each backend alone from that index into a fresh venv and run a round trip on it.

The artefacts are left in ``dist/`` with ``dist/CHECKED.json`` (the commit and the
SHA-256 of every file), which ``nox -s publish`` requires before it uploads them.

Third-party dependencies are put in the local index beside our distributions
(``pip wheel`` from the usual index, before the test), and the venvs install with
``--index-url`` of the local index and no other: an ``--extra-index-url`` of the
public index would let pip prefer anything there named like ours (PyPI has
``sinetstream-kafka`` and ``sinetstream-mqtt`` 1.10 from the reference project),
and the test would no longer show that our artefacts install.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).parent))

from release_lib import (
    ROOT,
    LocalIndex,
    build,
    check_sdist,
    check_wheel,
    make_venv,
    packages,
    run,
)

DIST = ROOT / "dist"
MANIFEST = DIST / "CHECKED.json"


def _test_module(path: Path, name: str) -> ModuleType:
    """Import a test-support module of a package by path (the broker code of its tests)."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def brokers(tmp: Path) -> Iterator[dict[str, dict[str, object]]]:
    """Tansu and Mosquitto, started as the integration tests start them; backend -> params."""
    kafka = _test_module(ROOT / "packages/sinetstream-kafka/tests/conftest.py", "kafka_brokers")
    mqtt = _test_module(ROOT / "packages/sinetstream-mqtt/tests/mqtt_support.py", "mqtt_support")
    tansu = kafka.start_tansu(tmp)
    folder = Path(
        tempfile.mkdtemp(prefix="sinetstream-release-mqtt-")
    )  # the mosquitto user reads it
    port = mqtt.free_port()
    mosquitto = mqtt.Mosquitto(
        folder=folder,
        config=f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stdout\n",
        ports={"plain": port},
    )
    try:
        mosquitto.start()
        yield {
            "queue": {"type": "queue"},
            "mqtt": {"type": "mqtt", "brokers": mosquitto.broker()},
            "kafka": {
                "type": "kafka",
                "brokers": tansu.bootstrap,
                "type_spec": {"auto_offset_reset": "earliest", **kafka.TANSU_SESSION},
            },
        }
    finally:
        mosquitto.stop()
        tansu.stop()
        shutil.rmtree(folder, ignore_errors=True)


def build_and_check() -> list[Path]:
    """Sdist and wheel of every package into dist/, checked; the manifest written."""
    shutil.rmtree(DIST, ignore_errors=True)
    files: list[Path] = []
    problems: list[str] = []
    for package in packages():
        built = build(package, DIST)
        files += built
        for path in built:
            if path.suffix == ".whl":
                problems += check_wheel(path, package)
            else:
                problems += check_sdist(path)
    run([str(Path(sys.executable).with_name("twine")), "check", "--strict", *map(str, files)])
    if problems:
        sys.exit("release: artefacts are wrong:\n  " + "\n  ".join(problems))
    print(f"release: {len(files)} artefacts checked (wheel contents, sdist, twine check)")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "packages"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    MANIFEST.write_text(
        json.dumps(
            {
                "commit": commit,
                "clean": not dirty,
                "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
            },
            indent=2,
        )
        + "\n"
    )
    return files


def main() -> None:
    files = build_and_check()
    wheels = [p for p in files if p.suffix == ".whl"]
    versions = {p.name: p.version for p in packages()}
    installs = 0
    with tempfile.TemporaryDirectory(prefix="sinetstream-release-") as tmp_name:
        tmp = Path(tmp_name)
        # Third-party wheels from the usual index (this machine's pip settings), built
        # once where only an sdist exists (promise), so the venvs need no build backend.
        wheelhouse = tmp / "wheelhouse"
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--wheel-dir",
                str(wheelhouse),
                *map(str, wheels),
            ]
        )
        with LocalIndex(tmp / "index") as index:
            index.upload(files)
            for wheel in wheelhouse.iterdir():
                if not wheel.name.startswith("sinetstream"):
                    shutil.copy2(wheel, index.folder)
            script = tmp / "run" / "roundtrip.py"
            script.parent.mkdir()
            shutil.copy2(Path(__file__).with_name("roundtrip.py"), script)
            with brokers(tmp) as params:
                for backend in ("queue", "mqtt", "kafka"):
                    distribution = f"sinetstream-{backend}"
                    python = make_venv(tmp / f"alone-{backend}")
                    index.pip_install(python, f"{distribution}=={versions[distribution]}")
                    run([str(python), "-m", "pip", "check"], cwd=script.parent)
                    run(
                        [str(python), "-I", str(script), json.dumps(params[backend])],
                        cwd=script.parent,
                    )
                    installs += 1
    print(
        f"release: {len({p.name.split('-')[0] for p in files})} distributions uploaded, "
        f"{installs} installs from the index passed"
    )


if __name__ == "__main__":
    main()
