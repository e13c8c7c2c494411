"""mrbatch: multi-region batch processing that survives the loss of a region."""

__version__ = "0.1.0"

__all__ = ["__version__"]
