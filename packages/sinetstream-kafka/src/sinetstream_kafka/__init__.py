"""Kafka backend for sinetstream: ``type: kafka``, on kafka-python 3.x.

Users do not import this package: sinetstream finds its four classes through the
``sinetstream.reader``/``writer``/``async_reader``/``async_writer`` entry points
named ``kafka``. See the package README for the parameter mapping.
"""

from __future__ import annotations

import warnings

# kafka-python 3.0 loads its protocol schemas with importlib.resources.read_text,
# deprecated since Python 3.11: keep that noise out of applications run with -W error.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "(read|open)_text is deprecated", DeprecationWarning)
    import kafka
    import kafka.consumer.subscription_state  # noqa: F401

from ._reader import KafkaAsyncReader, KafkaReader
from ._version import SPI_VERSION_REQUIRED, __version__
from ._writer import KafkaAsyncWriter, KafkaWriter

__all__ = [
    "KafkaAsyncReader",
    "KafkaAsyncWriter",
    "KafkaReader",
    "KafkaWriter",
    "SPI_VERSION_REQUIRED",
    "__version__",
]
