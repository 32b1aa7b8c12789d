"""aggregator: polls AWS announcement and community feeds into SQLite and drafts weekly notes."""

__version__ = "0.1.0"
