"""Plugin discovery: one cached registry per entry-point group.

Entry points are read on first use only, so ``import sinetstream`` stays fast.
A plugin class is validated when loaded; a broken one gives an error naming
the distribution, the entry point and what is wrong.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import spi
from ._version import SPI_VERSION, __version__
from .error import InvalidArgumentError, SinetError, UnsupportedServiceTypeError

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "GroupRegistry",
    "PluginInfo",
    "Registry",
    "instantiate_backend",
    "registered_class",
    "registry",
]


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its name, where it comes from, and its version."""

    group: str
    name: str
    target: str
    distribution: str | None
    version: str | None


# group -> (ABC the class may subclass, members it must define)
_CONTRACTS: dict[str, tuple[type, tuple[str, ...]]] = {
    "reader": (spi.PluginMessageReader, ("open", "close", "__iter__")),
    "writer": (spi.PluginMessageWriter, ("open", "close", "publish")),
    "async_reader": (spi.PluginAsyncMessageReader, ("open", "close", "on_message", "on_failure")),
    "async_writer": (spi.PluginAsyncMessageWriter, ("open", "close", "publish")),
    "value_type": (spi.PluginValueType, ("serializer", "deserializer")),
    "compression": (spi.PluginCompression, ("compressor", "decompressor")),
}


def _missing_members(cls: type, group: str) -> list[str]:
    abc, required = _CONTRACTS[group]
    if issubclass(cls, abc):
        return sorted(getattr(cls, "__abstractmethods__", ()))
    return [name for name in required if not any(name in vars(k) for k in cls.__mro__[:-1])]


def registered_class(obj: Any) -> Any:
    """The plugin class an object given to :meth:`Registry.register` stands for.

    An object with a ``load()`` is an entry point and is loaded: an
    ``importlib.metadata.EntryPoint``, any object with a ``load`` method, or a
    class with a ``load()`` classmethod or staticmethod (the way SINETStream
    1.10 test suites register plugins). Any other class is the plugin itself.
    """
    import inspect

    if isinstance(obj, type) and not isinstance(
        inspect.getattr_static(obj, "load", None), (classmethod, staticmethod)
    ):
        return obj
    return obj.load()


class Registry:
    """The plugins of one entry-point group, ``sinetstream.<group>``.

    Besides entry points, a class (or, as in SINETStream 1.10, any object with
    a ``load()`` method returning the class) can be registered by name.
    """

    def __init__(self, group: str) -> None:
        if group not in _CONTRACTS:
            raise ValueError(f"unknown plugin group {group!r}")
        self.group = group
        self._lock = threading.Lock()
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._registered: dict[str, Any] = {}
        self._loaded: dict[str, type] = {}

    @property
    def entry_point_group(self) -> str:
        """The entry-point group name, e.g. ``sinetstream.reader``."""
        return f"sinetstream.{self.group}"

    def _scan(self) -> dict[str, metadata.EntryPoint]:
        if self._entry_points is None:
            from importlib import metadata  # slow to import: only when a plugin is needed

            eps = metadata.entry_points(group=self.entry_point_group)
            self._entry_points = {ep.name: ep for ep in eps}
        return self._entry_points

    def register(self, name: str, obj: Any) -> None:
        """Register ``obj`` as the plugin called ``name``, ahead of any entry point.

        ``obj`` is the plugin class, or an entry-point-like object whose
        ``load()`` returns it (see :func:`registered_class`). It is loaded and
        checked when first used.
        """
        with self._lock:
            self._registered[name] = obj
            self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        """Forget a plugin registered with :meth:`register`."""
        with self._lock:
            self._registered.pop(name, None)
            self._loaded.pop(name, None)

    def names(self) -> list[str]:
        """Every plugin name known in this group, sorted."""
        with self._lock:
            return sorted(set(self._scan()) | set(self._registered))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def plugins(self) -> list[PluginInfo]:
        """Name, target, distribution and version of every plugin in this group."""
        out: list[PluginInfo] = []
        with self._lock:
            eps = dict(self._scan())
            registered = dict(self._registered)
        for name in sorted(set(eps) | set(registered)):
            if name in registered:
                obj = registered[name]
                target = getattr(obj, "__qualname__", type(obj).__qualname__)
                out.append(PluginInfo(self.group, name, f"{obj.__module__}:{target}", None, None))
                continue
            ep = eps[name]
            dist = ep.dist
            out.append(
                PluginInfo(
                    self.group,
                    name,
                    ep.value,
                    dist.name if dist is not None else None,
                    dist.version if dist is not None else None,
                )
            )
        return out

    def get(self, name: str, *, unknown: type[SinetError] = UnsupportedServiceTypeError) -> type:
        """Load, validate and return the plugin class called ``name``.

        Raises ``unknown`` when no plugin has that name, and
        :class:`UnsupportedServiceTypeError` when the plugin is broken.
        """
        cached = self._loaded.get(name)
        if cached is not None:
            return cached
        with self._lock:
            where: str
            if name in self._registered:
                obj = self._registered[name]
                where = f"plugin {name!r} registered in {self.entry_point_group}"
                try:
                    cls = registered_class(obj)
                except Exception as exc:
                    raise UnsupportedServiceTypeError(f"{where} failed to load: {exc}") from exc
            else:
                ep = self._scan().get(name)
                if ep is None:
                    known = ", ".join(sorted(set(self._scan()) | set(self._registered))) or "none"
                    raise unknown(
                        f"no {self.group.replace('_', ' ')} plugin named {name!r} is installed "
                        f"(entry-point group {self.entry_point_group}; installed: {known})"
                    )
                dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
                where = (
                    f"entry point {name} = {ep.value} "
                    f"(group {self.entry_point_group}, distribution {dist})"
                )
                try:
                    cls = ep.load()
                except Exception as exc:
                    too_old = _core_too_old(ep.dist)
                    raise UnsupportedServiceTypeError(
                        f"{where} failed to load: {too_old or repr(exc)}"
                    ) from exc
            if not isinstance(cls, type):
                raise UnsupportedServiceTypeError(
                    f"{where} is not a class but {type(cls).__name__}"
                )
            _check_spi_version(cls, where)
            missing = _missing_members(cls, self.group)
            if missing:
                raise UnsupportedServiceTypeError(
                    f"{where}: class {cls.__module__}.{cls.__qualname__} does not implement "
                    + ", ".join(missing)
                )
            self._loaded[name] = cls
            return cls


class GroupRegistry:
    """``MessageReader.registry`` (and on the other three classes), as in SINETStream 1.10.

    The class attribute is the process-wide :class:`Registry` of the class's
    entry-point group, so ``MessageReader.registry.register("mybroker", MyReader)``
    makes ``type: mybroker`` usable without packaging the plugin.
    """

    def __get__(self, obj: object, owner: Any) -> Registry:
        return registry(owner._group)


def _spi_tuple(text: object) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", text) if isinstance(text, str) else None
    return (int(match[1]), int(match[2])) if match else None


def _declared_spi(cls: type) -> object:
    """``SPI_VERSION_REQUIRED`` of the class, else of its module, else of its top package."""
    module = cls.__module__
    for owner in (cls, sys.modules.get(module), sys.modules.get(module.partition(".")[0])):
        declared = getattr(owner, "SPI_VERSION_REQUIRED", None)
        if declared is not None:
            return declared
    return None


def _check_spi_version(cls: type, where: str) -> None:
    """Refuse a plugin that declares an SPI this core does not provide.

    A plugin declaring nothing (one written from the v1.2 guide) loads as before.
    """
    declared = _declared_spi(cls)
    if declared is None:
        return
    wanted, have = _spi_tuple(declared), _spi_tuple(SPI_VERSION)
    if wanted is None or have is None:
        raise UnsupportedServiceTypeError(
            f'{where}: SPI_VERSION_REQUIRED must be a "major.minor" string, not {declared!r}'
        )
    if wanted[0] == have[0] and wanted[1] <= have[1]:
        return
    advice = (
        f"install sinetstream-core>={declared}"
        if wanted > have
        else f"install a release of the plugin built for SPI {have[0]}.x"
    )
    raise UnsupportedServiceTypeError(
        f"{where} needs plugin SPI {declared}, but sinetstream-core {__version__} "
        f"provides SPI {SPI_VERSION}: {advice}"
    )


def _core_too_old(dist: metadata.Distribution | None) -> str | None:
    """Why ``dist`` failed to import, when it requires a newer sinetstream-core than this one.

    A plugin that imports SPI names this core lacks fails before its
    ``SPI_VERSION_REQUIRED`` can be read; its ``Requires-Dist`` still says why.
    """
    if dist is None:
        return None
    for requirement in dist.requires or []:
        match = re.match(r"sinetstream[-_.]core\b([^;]*)", requirement, re.IGNORECASE)
        floors = re.findall(r">=\s*([\d.]+)", match[1]) if match else []
        for floor in floors:
            if _release(floor) > _release(__version__):
                return (
                    f"distribution {dist.name} {dist.version} requires sinetstream-core>={floor}, "
                    f"but sinetstream-core {__version__} (plugin SPI {SPI_VERSION}) is installed"
                )
    return None


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version without trailing zeros: ``"1.1.0rc1"`` -> ``(1, 1)``."""
    numbers = [int(n) for n in re.findall(r"\d+", re.split(r"[^\d.]", version)[0])]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


_registries: dict[str, Registry] = {}
_registries_lock = threading.Lock()


def registry(group: str) -> Registry:
    """The process-wide :class:`Registry` of ``group``."""
    reg = _registries.get(group)
    if reg is None:
        with _registries_lock:
            reg = _registries.setdefault(group, Registry(group))
    return reg


def _takes_confver(cls: type) -> bool:
    """True for the 1.10 constructor ``(confver, params)``, False for ``(params)``."""
    import inspect

    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return True
    return len(positional) >= 2


def instantiate_backend(cls: type, confver: spi.ConfigVersion, params: dict[str, Any]) -> Any:
    """Construct a backend plugin with whichever constructor it declares."""
    factory: Callable[..., Any] = cls
    try:
        if _takes_confver(cls):
            return factory(confver, params)
        return factory(params)
    except SinetError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidArgumentError(
            f"plugin {cls.__module__}.{cls.__qualname__} rejected its parameters: {exc}"
        ) from exc
