"""Kafka backend for sinetstream: ``type: kafka``, on kafka-python 3.x.

Users do not import this package: sinetstream finds its four classes through the
``sinetstream.reader``/``writer``/``async_reader``/``async_writer`` entry points
named ``kafka``. See the package README for the parameter mapping.
"""

from __future__ import annotations

from ._reader import KafkaAsyncReader, KafkaReader
from ._version import __version__
from ._writer import KafkaAsyncWriter, KafkaWriter

__all__ = [
    "KafkaAsyncReader",
    "KafkaAsyncWriter",
    "KafkaReader",
    "KafkaWriter",
    "__version__",
]
