"""The options every messaging command shares, and the reader and writer parameters they give.

``-s/--service``, ``--config-file``, ``--no-config``, ``--topic``, ``-t`` and
``KEY=VALUE`` overrides become the keyword arguments of ``MessageReader`` and
``MessageWriter``; :func:`round_trip` adds what ``ping`` and ``perf`` need to
talk to themselves (the queue fallback, a private topic).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from .status import UsageError, note

#: The ``add_subparsers()`` action each command module adds its parser to.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

_QUEUE_DEFAULTS: dict[str, Any] = {"no_config": True, "type": "queue"}

#: Reader and writer parameters that pass the message bytes as they are: no
#: framing, no timestamp, no compression, no encryption (so no key is needed).
#: A reader with them hands over whole SINETStream messages; a writer sends them on.
WIRE_PARAMS: dict[str, Any] = {
    "user_data_only": True,
    "data_encryption": False,
    "data_compression": False,
    "value_type": "byte_array",
}


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a": {"b": 1}, "c": ["x", "y"]}`` (YAML values)."""
    import yaml

    result: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(f"{item!r} is not KEY=VALUE (keys may be dotted: crypto.mode=GCM)")
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError as exc:
            raise UsageError(f"the value of {key} is not valid YAML: {exc}") from None
        node = result
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return result


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every messaging command: configuration and output options."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("configuration")
    group.add_argument("-s", "--service", help="service name in the config file")
    group.add_argument(
        "--config-file", metavar="PATH", help="config file (default: search the usual places)"
    )
    group.add_argument("-c", "--config", metavar="NAME", help="config name on the config server")
    group.add_argument(
        "-nc",
        "--no-config",
        "--no-config-file",
        dest="no_config",
        action="store_true",
        help="read no config file: give everything as KEY=VALUE",
    )
    group.add_argument("--topic", help="topic (default: the service's topic / topics)")
    group.add_argument("-t", "--text", action="store_true", help="value_type=text")
    group.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="parameter overrides; dotted keys, YAML values (type=mqtt brokers=host:1883)",
    )
    out = common.add_argument_group("output")
    out.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return common


def _has_config_source(args: argparse.Namespace, overrides: dict[str, Any]) -> bool:
    """Whether the user pointed at any configuration (else perf/ping may use the queue)."""
    from sinetstream._config import default_config_paths

    if args.service or args.config_file or args.config or args.no_config or "type" in overrides:
        return True
    return any(p.is_file() for p in default_config_paths())


def io_params(args: argparse.Namespace, *, queue_fallback: bool = False) -> dict[str, Any]:
    """Constructor keyword arguments common to readers and writers."""
    overrides = parse_overrides(args.overrides)
    kwargs: dict[str, Any] = {}
    if queue_fallback and not _has_config_source(args, overrides):
        from sinetstream._registry import registry

        if "queue" not in registry("reader"):
            raise UsageError(
                "no config file found, and the embedded queue backend is not installed: "
                "pip install sinetstream-queue, or name a service (-s, --config-file) "
                "or a backend (--no-config type=mqtt brokers=HOST:PORT)"
            )
        note("no config file found: using the embedded queue backend (type=queue)")
        kwargs.update(_QUEUE_DEFAULTS)
    kwargs.update(overrides)
    if args.service:
        kwargs["service"] = args.service
    if args.config_file:
        kwargs["config_file"] = str(args.config_file)
    if args.config:
        kwargs["config"] = args.config
    if args.no_config:
        kwargs["no_config"] = True
    if args.text:
        kwargs["value_type"] = "text"
    return kwargs


def writer_params(base: dict[str, Any], topic: str | None) -> dict[str, Any]:
    """``base`` for a writer, publishing to ``topic`` if given."""
    kwargs = dict(base)
    if topic is not None:
        kwargs["topic"] = topic
    return kwargs


def reader_params(base: dict[str, Any], topic: str | None) -> dict[str, Any]:
    """``base`` for a reader, subscribed to ``topic`` if given, else to the writer's topic."""
    kwargs = dict(base)
    if topic is not None:
        kwargs["topics"] = topic
    elif "topics" not in kwargs and "topic" in kwargs:
        kwargs["topics"] = kwargs["topic"]
    return kwargs


def _default_topic(base: dict[str, Any], explicit: str | None, prefix: str) -> str | None:
    """A private topic for ping/perf when neither the options nor the queue fallback name one."""
    if explicit:
        return explicit
    if "topic" in base or "topics" in base:
        return None
    if base.get("service") or base.get("config_file") or base.get("config"):
        return None  # the service may define its topic
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def service_label(kwargs: dict[str, Any]) -> str:
    """What the service is, for a heading: ``embedded queue``, ``service NAME``, ``type T``."""
    if kwargs.get("type") == "queue" and kwargs.get("no_config"):
        return "embedded queue"
    if kwargs.get("service"):
        return f"service {kwargs['service']}"
    return f"type {kwargs.get('type', '?')}"


def topics_label(topics: str | list[str] | None) -> str:
    """A reader's topics for a message: ``topic a``, ``topics a, b``."""
    if isinstance(topics, str):
        return f"topic {topics}"
    if topics:
        return f"topics {', '.join(topics)}"
    return "the service's topics"


@dataclass
class RoundTrip:
    """Parameters of a writer and a reader that talk to each other through one topic."""

    base: dict[str, Any]
    #: The topic both use; None when the service's config names it.
    topic: str | None
    writer: dict[str, Any]
    reader: dict[str, Any]

    @property
    def label(self) -> str:
        """The service, for a heading."""
        return service_label(self.base)


def round_trip(args: argparse.Namespace, topic_prefix: str, value_type: str) -> RoundTrip:
    """Writer and reader parameters for ``ping`` and ``perf``.

    Without any configuration they use the embedded queue; without a topic, a
    private one (``topic_prefix-XXXXXXXX``). The reader gives up waiting every
    200 ms unless told otherwise, so that it can notice the end of the run.
    """
    base = io_params(args, queue_fallback=True)
    base["value_type"] = value_type
    topic = _default_topic(base, args.topic, topic_prefix)
    reader = reader_params(base, topic)
    reader.setdefault("receive_timeout_ms", 200)
    return RoundTrip(base, topic, writer_params(base, topic), reader)
