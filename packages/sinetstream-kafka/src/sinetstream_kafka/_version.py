"""The version of sinetstream-kafka."""

__version__ = "1.0.0"
