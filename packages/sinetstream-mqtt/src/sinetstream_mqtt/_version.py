"""The version of sinetstream-mqtt."""

__version__ = "1.0.0"
