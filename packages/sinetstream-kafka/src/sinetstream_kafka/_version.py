"""The version of sinetstream-kafka, and the plugin SPI it was built for."""

__version__ = "1.1.0"

#: The sinetstream plugin SPI this backend uses; the core refuses to load it when
#: it provides an older SPI (``sinetstream.spi.SPI_VERSION``).
SPI_VERSION_REQUIRED = "1.1"
