"""kitsu: a terminal operator console for AI VTubers."""

__version__ = "0.1.0"
