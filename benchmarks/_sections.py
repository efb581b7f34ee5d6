"""Sections of docs/performance.md that other scripts own (the soak, the bridge).

Such a section opens with ``<!-- NAME: who writes it -->`` and closes with
``<!-- /NAME -->``. Its script replaces it in place with :func:`put_section`;
``nox -s bench``, which rewrites the rest of the page, carries every owned
section over with :func:`owned_sections`.
"""

from __future__ import annotations

import re
from pathlib import Path

_OWNED = re.compile(r"<!-- (\w+): [^>]*-->.*?<!-- /\1 -->", re.DOTALL)


def owned_sections(text: str) -> list[str]:
    """Every owned section of ``text``, markers included, in page order."""
    return [m.group(0) for m in _OWNED.finditer(text)]


def put_section(page: Path, section: str) -> None:
    """Write ``section`` into ``page``: in place of the one with its markers, else at the end."""
    opening = _OWNED.match(section)
    if opening is None:
        raise ValueError("a section opens with <!-- NAME: ... --> and closes with <!-- /NAME -->")
    name = opening.group(1)
    text = page.read_text() if page.exists() else "# Performance\n"
    for m in _OWNED.finditer(text):
        if m.group(1) == name:
            text = text[: m.start()] + section + text[m.end() :]
            break
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.write_text(text)
