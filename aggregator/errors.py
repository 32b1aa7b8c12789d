"""The exceptions aggregator raises, in one tree.

::

    AggregatorError                 anything this package raises on purpose
    ├── ConfigError (ValueError)    a configuration file or value is wrong; says file, key, problem
    ├── FeedError                   one feed could not be polled; never stops the other feeds
    │   ├── FetchError              transport trouble: refused, timed out, too big, too many redirects
    │   │   └── HTTPStatusError     the server answered with a status the policy treats as a failure
    │   └── ParseError              the body is not a feed (HTML, truncated XML, empty)
    ├── ImportFileError             a file given to ``aggregator import`` could not be read as a feed
    ├── DraftError                  the weekly draft cannot be written (names the file)
    │   └── DraftExistsError        the weekly draft file exists already: it is never overwritten
    ├── BackfillError               a history backfill stopped; it resumes from the page that failed
    │   └── MalformedPageError      an API page is not what the API sends (names the page); nothing of it stored
    ├── ServiceLockError            another service runs on the archive, or its lock cannot be taken
    ├── StoreError                  the archive cannot be opened, migrated or written (or stays busy)
    └── SearchError (ValueError)    a ``posts --search`` query the full-text index cannot run

The CLI maps every ``AggregatorError`` to a one-line message and a non-zero exit status;
anything else escaping is a bug.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Base class of every error aggregator raises on purpose."""


class ConfigError(AggregatorError, ValueError):
    """A configuration file or value is invalid.

    The message names the file, the key and what is wrong with it.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class FeedError(AggregatorError):
    """One feed could not be polled. Recorded on the feed; the other feeds carry on."""


class FetchError(FeedError):
    """The feed could not be fetched: network error, timeout, size cap, redirect trouble."""


class HTTPStatusError(FetchError):
    """The server answered with a status the policy treats as a failure."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(message)


class ParseError(FeedError):
    """The body is not a feed: an HTML page, truncated or malformed XML, an empty body."""


class ImportFileError(AggregatorError):
    """A file given to ``aggregator import`` could not be read as a feed."""


class DraftError(AggregatorError):
    """The weekly draft cannot be written: the message names the file and why."""


class DraftExistsError(DraftError):
    """The weekly draft for that week exists already; it is never overwritten (unless forced)."""


class BackfillError(AggregatorError):
    """A backfill stopped before its end: the API kept failing, or answered something unusable.

    Everything before the failed page is stored and the cursor points at that page, so the same
    command (or the next gap repair) continues from there.
    """


class MalformedPageError(BackfillError):
    """An API page is not JSON of the directory API's shape; the message names the page and the
    first problem found. Nothing of that page is stored."""


class ServiceLockError(AggregatorError):
    """Another ``aggregator run`` holds the archive (the message gives its pid), or the lock file
    cannot be created."""


class StoreError(AggregatorError):
    """The archive cannot be opened, migrated or written."""


class SearchError(AggregatorError, ValueError):
    """A full-text query the index cannot run (``posts --search``): the message says why and how
    the query syntax goes."""
