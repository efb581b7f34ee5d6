"""MQTT backend for sinetstream, on paho-mqtt 2.x.

Installing this distribution registers ``type: mqtt`` for the four sinetstream
classes; users do not import it. Parameters (config versions 2 and 3) are
described in ``docs/mqtt.md``.
"""

from __future__ import annotations

from ._reader import MqttAsyncReader, MqttReader
from ._version import SPI_VERSION_REQUIRED, __version__
from ._writer import MqttAsyncWriter, MqttWriter

__all__ = [
    "MqttAsyncReader",
    "MqttAsyncWriter",
    "MqttReader",
    "MqttWriter",
    "SPI_VERSION_REQUIRED",
    "__version__",
]
