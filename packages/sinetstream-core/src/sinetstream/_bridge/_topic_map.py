"""Topic mapping of the bridge: ``'sensors/+/temp=>temperature'`` rules.

A rule is ``SOURCE=>DESTINATION``. ``SOURCE`` is a topic, or an MQTT filter
with ``+`` (one level) and ``#`` (the rest, last level only). ``DESTINATION``
is a topic, or a template with ``{topic}`` (the source topic), ``{1}``,
``{2}``, ... (what each wildcard matched, in order) and ``{key}`` (the
source message's key, for a Kafka source). The first rule that matches wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sinetstream.error import InvalidArgumentError

__all__ = ["TopicMap", "parse_rule"]

_ARROW = "=>"
_FIELD = re.compile(r"\{(\w*)\}")
# Topics seen are remembered with their destination; a bridge with more
# distinct source topics than this starts over rather than grow without bound.
_CACHE_LIMIT = 10_000


@dataclass(frozen=True)
class _Rule:
    source: str
    levels: tuple[str, ...]
    template: str
    fields: frozenset[str]

    def match(self, topic: str) -> list[str] | None:
        """What each wildcard matched, or ``None`` when ``topic`` does not match."""
        parts = topic.split("/")
        captured: list[str] = []
        for i, level in enumerate(self.levels):
            if level == "#":
                captured.append("/".join(parts[i:]))
                return captured
            if i >= len(parts):
                return None
            if level == "+":
                captured.append(parts[i])
            elif level != parts[i]:
                return None
        return captured if len(parts) == len(self.levels) else None


def parse_rule(text: str) -> tuple[str, str]:
    """``'SOURCE=>DESTINATION'`` as ``(source, destination)``, both checked."""
    source, arrow, dest = text.partition(_ARROW)
    source, dest = source.strip(), dest.strip()
    if not arrow or not source or not dest:
        raise InvalidArgumentError(
            f"bridge topic map: {text!r} is not 'SOURCE=>DESTINATION' "
            "(e.g. 'sensors/+/temp=>temperature')"
        )
    return source, dest


def _rule(source: str, template: str) -> _Rule:
    levels = tuple(source.split("/"))
    if "#" in levels[:-1] or any(("+" in lv or "#" in lv) and len(lv) > 1 for lv in levels):
        raise InvalidArgumentError(
            f"bridge topic map: {source!r}: '+' and '#' must fill a whole level, '#' the last"
        )
    wildcards = sum(1 for lv in levels if lv in ("+", "#"))
    fields = frozenset(_FIELD.findall(template))
    for name in fields:
        if name not in ("topic", "key") and not (name.isdigit() and 1 <= int(name) <= wildcards):
            raise InvalidArgumentError(
                f"bridge topic map: {template!r}: unknown field {{{name}}}; use {{topic}}, "
                f"{{key}} or {{1}}..{{{wildcards}}} (one per wildcard of {source!r})"
            )
    return _Rule(source, levels, template, fields)


class TopicMap:
    """Source topics to destination topics, by the first matching rule.

    ``rules`` are ``(source, destination)`` pairs; ``default`` is the
    destination of topics no rule matches (``None``: the source topic).
    """

    def __init__(self, rules: Iterable[tuple[str, str]], default: str | None = None) -> None:
        self.rules = [_rule(s, d) for s, d in rules]
        self.default = default
        self._cache: dict[str, _Rule | None] = {}

    @property
    def sources(self) -> list[str]:
        """The source topics and filters the rules name, in rule order."""
        return list(dict.fromkeys(r.source for r in self.rules))

    def _find(self, topic: str) -> _Rule | None:
        cache = self._cache
        if topic in cache:
            return cache[topic]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        found = next((r for r in self.rules if r.match(topic) is not None), None)
        cache[topic] = found
        return found

    def destination(self, topic: str, raw: Any = None) -> str:
        """The destination topic of a message received on ``topic``."""
        rule = self._find(topic)
        if rule is None:
            if self.rules and self.default is None:
                raise InvalidArgumentError(f"bridge topic map: no rule matches topic {topic!r}")
            return self.default if self.default is not None else topic
        if not rule.fields:
            return rule.template
        captured = rule.match(topic) or []
        values = {str(i): v for i, v in enumerate(captured, 1)}
        values["topic"] = topic
        if "key" in rule.fields:
            key = getattr(raw, "key", None)
            if isinstance(key, (bytes, bytearray)):
                key = bytes(key).decode("utf-8", "replace")
            if not key:
                raise InvalidArgumentError(
                    f"bridge topic map: {rule.template!r} needs the message key, and the "
                    f"message received on {topic!r} has none"
                )
            values["key"] = str(key)
        return _FIELD.sub(lambda m: values[m.group(1)], rule.template)
