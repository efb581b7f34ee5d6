"""The version of sinetstream-core, and of the plugin SPI it provides."""

__version__ = "1.1.0"

#: The plugin SPI this core provides, ``"major.minor"``. The minor number grows when
#: the SPI gains API (core X.Y is the first to provide SPI X.Y); the major number
#: changes only when the SPI breaks plugins. A plugin states the SPI it was built
#: for as ``SPI_VERSION_REQUIRED = "X.Y"`` (a class attribute, or an attribute of
#: the module its entry point names); one asking for more than this fails to load.
SPI_VERSION = "1.1"
