"""The version of sinetstream-core."""

__version__ = "1.0.0"
