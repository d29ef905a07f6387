"""XTrack: follow X accounts, summarize what matters, keep the whole history."""

__version__ = "0.1.0"
