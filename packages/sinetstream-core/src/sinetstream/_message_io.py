"""What the four user-facing classes share: config, plugin lifecycle, metrics, info.

:class:`MessageIO` resolves the configuration and builds the plugin when the
object is made, and owns ``open``/``close``, the properties, ``metrics`` and
``info``. Readers (:mod:`._readers`) and writers (:mod:`._writers`) add
their topic rules, their codec and their message path; nothing here runs per
message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar

from . import _config
from ._config import ResolvedConfig
from ._failures import as_sinet_error
from ._metrics import Metrics, MetricsRecorder
from ._params import DEFAULT_PARAMS, Consistency, copy_params
from ._registry import GroupRegistry, instantiate_backend, registry
from .error import AlreadyConnectedError, NotOpenError, SinetError
from .error import ConnectionError as SinetConnectionError

__all__ = ["MessageIO"]

_log = logging.getLogger("sinetstream")

_USAGE = """\
{cls}(service=None, {topic_arg}=None, config=None, config_file=None, **kwargs)
    service            name of a service in the config file (optional if there is one)
    {topic_arg:<18} {topic_help}
    config_file        path of a YAML config file (default: ./.sinetstream_config.yml,
                       then ~/.config/sinetstream/config.yml)
    no_config=True     use only the keyword arguments, read no file
  keyword arguments (override the config file):
    type               backend: queue, kafka, mqtt, or any installed plugin
    brokers            "host:port" or a list of them
    consistency        AT_MOST_ONCE | AT_LEAST_ONCE | EXACTLY_ONCE
    client_id          client name (default: sinetstream-<uuid4>)
    value_type         byte_array (default) | text | an installed value-type plugin
    value_{ser:<13}callable overriding value_type
    data_compression   true to compress; compression: {{algorithm: gzip|zstd, level: N}}
    data_encryption    true to encrypt; crypto: {{algorithm: AES, mode: GCM, password: ...}}
    user_data_only     true to send the bare payload (no header, no timestamp)
    message_format     3 (default) or 2{extra}
    type_spec          backend-specific parameters (config version 3)
"""


class MessageIO:
    """What the four classes share: config, plugin lifecycle, metrics, info."""

    _group: ClassVar[str]
    _is_reader: ClassVar[bool]
    #: The plugins of this class's entry-point group; ``registry.register(name, cls)``
    #: adds one in code (see docs/plugins.md).
    registry = GroupRegistry()
    #: Library defaults, the bottom layer of every merge.
    default_params: ClassVar[Mapping[str, Any]] = DEFAULT_PARAMS

    def __init__(
        self,
        service: str | None,
        topic_arg: Any,
        config: str | None,
        config_file: Any,
        kwargs: dict[str, Any],
    ) -> None:
        self._lock = threading.RLock()
        self._plugin: Any = None
        self._resolved: ResolvedConfig = _config.resolve(service, config, config_file, kwargs)
        params = self._resolved.params
        self._where = self._resolved.where()
        self._set_topics(topic_arg, params)
        self._plugin_class = registry(self._group).get(params["type"])
        self._metrics = MetricsRecorder()
        self._params_template = params
        self.params: dict[str, Any] = params
        self._build_codec(params)
        # Like SINETStream 1.10, build the plugin now so parameter errors surface here.
        self._plugin = self._new_plugin()

    # -- construction helpers --------------------------------------------------------------

    def _set_topics(self, topic_arg: Any, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _build_codec(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def _codec(self, factory: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Any:
        """Build the Encoder or Decoder; its errors name the file and service."""
        try:
            return factory(params)
        except SinetError as exc:
            raise type(exc)(f"{self._where}{exc}") from exc

    def _new_plugin(self) -> Any:
        resolved = self._resolved
        resolved.params = copy_params(self._params_template)
        _config.write_inline_files(resolved)
        self.params = resolved.params
        try:
            return instantiate_backend(self._plugin_class, resolved.version, self.params)
        except BaseException:
            _config.remove_temp_files(resolved.temp_files)
            raise

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Any:
        """Connect to the broker; returns ``self``. A closed object can be opened again."""
        with self._lock:
            if self._opened:
                raise AlreadyConnectedError(f"{self._where}{type(self).__name__} is already open")
            if self._plugin is None:
                self._plugin = self._new_plugin()
            self._before_open(self._plugin)
            try:
                self._plugin.open()
            except Exception as exc:
                error = self._failure(
                    exc, f"cannot open the {self.params['type']} backend", SinetConnectionError
                )
                self._discard_plugin()
                raise error  # noqa: B904 - _failure sets the cause
            self._opened = True
            self._live = self._plugin
            return self

    _opened = False
    # The plugin while open, else None: what the per-message paths check.
    _live: Any = None

    def _before_open(self, plugin: Any) -> None:
        """Hook for subclasses: wire callbacks before the plugin opens."""

    def _discard_plugin(self) -> None:
        plugin, self._plugin = self._plugin, None
        try:
            if plugin is not None:
                plugin.close()
        except Exception:
            _log.debug("error while closing a plugin that failed to open", exc_info=True)
        finally:
            _config.remove_temp_files(self._resolved.temp_files)

    def close(self) -> None:
        """Flush and disconnect. Safe to call twice; ``open()`` may follow."""
        with self._lock:
            if self._plugin is None:
                return
            self._raw_at_close = self._raw_metrics()
            self._opened = False
            self._live = None
            plugin, self._plugin = self._plugin, None
            try:
                plugin.close()
            finally:
                _config.remove_temp_files(self._resolved.temp_files)

    _raw_at_close: Any = None

    def __enter__(self) -> Any:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        temp = getattr(getattr(self, "_resolved", None), "temp_files", None)
        if temp:
            _config.remove_temp_files(temp)

    def _failure(
        self, error: BaseException, what: str, kind: type[SinetError] = SinetError
    ) -> SinetError:
        """Count a failure; the SinetError to raise for it (``error``, or ``error`` wrapped).

        The one place the core translates a plugin's failure (see :mod:`._failures`):
        ``except Exception as exc: raise self._failure(exc, "publish failed")``.
        """
        self._metrics.error()
        return as_sinet_error(error, self._where + what, kind)

    def _require_open(self) -> Any:
        plugin = self._plugin
        if plugin is None or not self._opened:
            raise NotOpenError(
                f"{self._where}{type(self).__name__} is not open: call open() or use 'with'"
            )
        return plugin

    # -- properties ---------------------------------------------------------------------------

    @property
    def service(self) -> str | None:
        """The service name (``None`` with ``no_config``)."""
        return self._resolved.service

    @property
    def client_id(self) -> str:
        """The client id: the one given, or ``sinetstream-<uuid4>``."""
        return str(self.params["client_id"])

    @property
    def consistency(self) -> Consistency:
        """The delivery guarantee asked of the broker."""
        c: Consistency = self.params["consistency"]
        return c

    @property
    def value_type(self) -> str:
        """The value type's name (``byte_array``, ``text``, or a plugin's)."""
        vt = self.params.get("value_type")
        if isinstance(vt, str):
            return vt
        if isinstance(vt, Mapping):
            return str(vt.get("name"))
        return str(getattr(vt, "name", vt))

    # -- metrics and info -----------------------------------------------------------------------

    def _raw_metrics(self) -> Any:
        plugin = self._plugin
        fn = getattr(plugin, "metrics", None)
        if plugin is None or fn is None:
            return None
        try:
            return fn()
        except Exception:
            _log.debug("backend metrics() failed", exc_info=True)
            return None

    @property
    def metrics(self) -> Metrics:
        """A snapshot of the counters; ``raw`` holds the backend's own metrics."""
        return self._metrics.snapshot(self._raw_metrics())

    def reset_metrics(self, reset_raw: bool = False) -> None:
        """Zero the counters; with ``reset_raw`` also reset the backend's."""
        self._metrics.reset()
        if reset_raw and self._plugin is not None:
            fn = getattr(self._plugin, "reset_metrics", None)
            if fn is not None:
                fn()

    def info(self, name: str = "", **kwargs: Any) -> Any:
        """Information about this object; ``name`` selects a dotted path.

        ``info()`` returns ``{"client_id", "metrics", <type>: backend info}``;
        ``info("client_id")`` or ``info("<type>.<key>")`` returns one part.
        """
        path = [p for p in name.split(".") if p] if name else []
        backend_type = self.params["type"]
        head = path[0] if path else None
        if head is None or head == backend_type:
            plugin_info = None
            fn = getattr(self._plugin, "info", None)
            if fn is not None:
                plugin_info = fn(path[1:], kwargs)
            if head is not None:
                return plugin_info
            return {"client_id": self.client_id, "metrics": self.metrics, backend_type: plugin_info}
        if head == "client_id":
            return self.client_id
        if head == "metrics":
            m = self.metrics
            return getattr(m, path[1]) if len(path) > 1 else m
        return None

    @classmethod
    def usage(cls) -> str:
        """A cheat sheet of the constructor's parameters."""
        if cls._is_reader:
            return _USAGE.format(
                cls=cls.__name__,
                topic_arg="topics",
                topic_help="a topic or a list of topics",
                ser="deserializer",
                extra="\n    receive_timeout_ms stop iterating after this long without a message"
                "\n    on_invalid_message raise (default) | skip undecodable messages",
            )
        return _USAGE.format(
            cls=cls.__name__,
            topic_arg="topic",
            topic_help="the topic to publish to",
            ser="serializer",
            extra="",
        )

    def _debug_get_plugin(self) -> Any:
        return self._plugin

    def __repr__(self) -> str:
        state = "open" if self._opened else "closed"
        return (
            f"<{type(self).__name__} service={self.service!r} type={self.params.get('type')!r} "
            f"{state}>"
        )
