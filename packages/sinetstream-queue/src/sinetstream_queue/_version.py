"""The version of sinetstream-queue."""

__version__ = "1.0.0"
