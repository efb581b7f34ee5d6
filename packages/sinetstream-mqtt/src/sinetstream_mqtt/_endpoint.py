"""Where the MQTT client connects: the broker address and the TLS settings.

Pure code, part of :func:`sinetstream_mqtt._params.parse_settings`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from typing import Any

from sinetstream.error import InvalidArgumentError
from sinetstream.spi.params import check_bool, check_text

__all__ = ["parse_broker", "tls_settings"]

log = logging.getLogger("sinetstream_mqtt")

_TLS_KEYS = frozenset(
    {
        "ca_certs",
        "certfile",
        "keyfile",
        "cert_reqs",
        "tls_version",
        "ciphers",
        "keyfile_password",
        "alpn_protocols",
    }
)

_DEFAULT_PORTS = {"websockets": (80, 443), "tcp": (1883, 8883)}


def _split_host_port(text: str) -> tuple[str, str | None]:
    """``host[:port]`` or ``[IPv6][:port]`` as host and port text (not checked yet)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidArgumentError(f"MQTT broker {text!r}: missing ']'")
        rest = text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidArgumentError(f"MQTT broker {text!r}: expected ':port' after ']'")
        return text[1:end], (rest[1:] if rest else None)
    if text.count(":") == 1:
        host, port_text = text.split(":", 1)
        return host, port_text
    return text, None


def parse_broker(brokers: Any, tls: bool, transport: str) -> tuple[str, int]:
    """The one broker of ``brokers`` as ``(host, port)``; the port defaults by transport and TLS."""
    if isinstance(brokers, str):
        items = [b.strip() for b in brokers.split(",") if b.strip()]
    elif isinstance(brokers, (list, tuple)):
        items = [b.strip() for b in brokers if isinstance(b, str) and b.strip()]
        if len(items) != len(brokers):
            raise InvalidArgumentError("MQTT brokers must be strings of the form host[:port]")
    else:
        items = []
    if len(items) != 1:
        raise InvalidArgumentError(
            f"MQTT needs exactly one broker (host or host:port) in brokers, got {brokers!r}"
        )
    text = items[0]
    host, port_text = _split_host_port(text)
    if port_text is not None and (not port_text.isdigit() or not 0 < int(port_text) < 65536):
        raise InvalidArgumentError(f"MQTT broker {text!r}: port must be 1..65535")
    if not host:
        raise InvalidArgumentError(f"MQTT broker {text!r}: empty host")
    if port_text is not None:
        return host, int(port_text)
    plain, secure = _DEFAULT_PORTS[transport]
    return host, secure if tls else plain


def _ssl_constant(name: str, value: Any, prefix: str) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        attr = value if value.startswith(prefix) else prefix + value
        if hasattr(ssl, attr):
            return getattr(ssl, attr)
    raise InvalidArgumentError(f"MQTT tls {name} {value!r} is not an ssl.{prefix}* constant")


def tls_settings(
    common: Any, specific: Any, insecure_flag: bool | None, where: str = ""
) -> tuple[dict[str, Any] | None, bool | None]:
    """Merge the common ``tls`` and the MQTT-specific ``tls`` (specific wins).

    ``insecure_flag`` is the checked ``tls_insecure`` parameter (it overrides
    ``tls.check_hostname``); ``where`` names the service in messages. Returns
    the arguments of paho's ``tls_set`` (``None``: no TLS) and the
    ``tls_insecure_set`` flag.
    """
    enabled = False
    merged: dict[str, Any] = {}
    insecure: bool | None = None
    for source, value in (("tls", common), ("type_spec tls", specific)):
        if value is None:
            continue
        if isinstance(value, bool):
            enabled = value
            if not value:
                merged.clear()
            continue
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"{source} must be true, false or a mapping")
        enabled = True
        for key, item in value.items():
            if key == "check_hostname":
                insecure = not check_bool("tls.check_hostname", item, where=where)
            elif key in _TLS_KEYS:
                merged[key] = item
            elif key.endswith("_data"):
                raise InvalidArgumentError(
                    f"tls.{key} was not turned into a file by the core; give tls."
                    f"{key[:-5]} as a path instead"
                )
            else:
                log.warning("ignoring tls parameter %r (not supported by the MQTT backend)", key)
    if insecure_flag is not None:
        insecure = insecure_flag
    if not enabled:
        return None, None
    if "cert_reqs" in merged:
        merged["cert_reqs"] = _ssl_constant("cert_reqs", merged["cert_reqs"], "CERT_")
    if "tls_version" in merged:
        merged["tls_version"] = _ssl_constant("tls_version", merged["tls_version"], "PROTOCOL_")
    if merged.get("keyfile_password") is not None:
        merged["keyfile_password"] = check_text(
            "tls.keyfile_password", merged["keyfile_password"], where=where
        )
    for key in ("ca_certs", "certfile", "keyfile", "ciphers"):
        if merged.get(key) is not None and not isinstance(merged[key], str):
            raise InvalidArgumentError(f"tls.{key} must be a string")
    return merged, insecure
