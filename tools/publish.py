"""``nox -s publish -- --repository-url URL [twine options]``: upload what release checked.

Refuses unless ``dist/CHECKED.json`` exists, was written from a clean tree at the
commit checked out now, and every file in ``dist/`` is one it lists with the same
SHA-256: the registry gets exactly the artefacts that were installed from the local
index and round-tripped. Only distributions whose version ``releases.toml`` does not
list yet are uploaded (each is released on its own). Credentials go to twine as
usual (``TWINE_USERNAME`` / ``TWINE_PASSWORD``, or ``-u``/``-p`` after the URL).
Afterwards it prints the tag commands and the ``releases.toml`` entries for the
versions published.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from release_lib import ROOT, packages, releases, run

DIST = ROOT / "dist"
MANIFEST = DIST / "CHECKED.json"


def checked_files() -> tuple[str, list[Path]]:
    """The commit and the artefacts of the last successful ``nox -s release``; exits if stale."""
    if not MANIFEST.exists():
        sys.exit("publish: no dist/CHECKED.json: run `nox -s release` first")
    manifest = json.loads(MANIFEST.read_text())
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if manifest["commit"] != head or not manifest["clean"]:
        sys.exit(
            f"publish: dist/ was checked at {manifest['commit'][:12]} "
            f"({'clean' if manifest['clean'] else 'uncommitted changes'}), HEAD is {head[:12]}: "
            "run `nox -s release` on a clean checkout of the release commit"
        )
    on_disk = {p.name for p in DIST.iterdir() if p != MANIFEST}
    if on_disk != set(manifest["files"]):
        sys.exit(f"publish: dist/ holds {sorted(on_disk ^ set(manifest['files']))} unchecked")
    files = []
    for name, digest in sorted(manifest["files"].items()):
        path = DIST / name
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            sys.exit(f"publish: {name} changed since `nox -s release` checked it")
        files.append(path)
    return head, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository-url", required=True, help="the registry's upload URL")
    args, twine_options = parser.parse_known_args()
    commit, files = checked_files()
    published = {(r.distribution, r.version) for r in releases()}
    new = [p for p in packages() if (p.name, p.version) not in published]
    if not new:
        sys.exit("publish: every version in the tree is in releases.toml already")
    prefixes = tuple(f"{p.name.replace('-', '_')}-{p.version}" for p in new)
    upload = [f for f in files if f.name.startswith(prefixes)]
    twine = str(Path(sys.executable).with_name("twine"))
    run(
        [
            twine,
            "upload",
            "--repository-url",
            args.repository_url,
            *twine_options,
            *map(str, upload),
        ]
    )
    print("publish: uploaded; now tag the release commit and record it:")
    for package in new:
        tag = f"{package.name}-v{package.version}"
        print(f"  git tag -a {tag} -m '{package.name} {package.version}' {commit}")
    print("  git push origin --tags")
    print("  # and add to releases.toml, in a commit of its own:")
    for package in new:
        print(
            f'  [[release]]\n  distribution = "{package.name}"\n'
            f'  version = "{package.version}"\n  commit = "{commit}"\n'
        )


if __name__ == "__main__":
    main()
