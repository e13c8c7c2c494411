"""The root of mrbatch's error tree.

Every error the library raises on purpose derives from `MrBatchError`, so a caller (the CLI,
a handler, a test) can tell "mrbatch refused this, with a message meant for a person" from a
bug. Vendor errors (botocore, sqlite3, OSError) are translated at the boundary where they
happen; callers never look inside them.
"""

from __future__ import annotations


class MrBatchError(Exception):
    """Base of every error mrbatch raises deliberately. `str(err)` is meant for a person."""


class ConfigError(MrBatchError):
    """A setting, a command-line option or a configuration file is invalid."""


# --- input files -------------------------------------------------------------------------


class InputFileError(MrBatchError):
    """A problem with an input file as a whole: the file fails, nothing is written for it."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason

    def __reduce__(self) -> tuple[type[InputFileError], tuple[str, str]]:
        # Keeps the error intact when it crosses a process boundary (worker pools).
        return (type(self), (self.file, self.reason))


# --- storage -----------------------------------------------------------------------------


class StorageError(MrBatchError):
    """The object store could not do what was asked."""


class ObjectNotFoundError(StorageError):
    """No object exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no such object: {key!r}")
        self.key = key


class ObjectExistsError(StorageError):
    """A create-only put found an object already under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object already exists: {key!r}")
        self.key = key


class PreconditionFailedError(StorageError):
    """A conditional put (if-match) found the object changed: its ETag is not the one given."""

    def __init__(self, key: str) -> None:
        super().__init__(f"object {key!r} does not have the expected ETag")
        self.key = key


class InvalidKeyError(StorageError):
    """An object key is not acceptable (not UTF-8, too long, escapes the bucket, ...)."""


class InvalidMetadataError(StorageError):
    """User metadata is not acceptable (key not lower-case token, value not ASCII, too big)."""


# --- tables ------------------------------------------------------------------------------


class TableError(MrBatchError):
    """The table could not do what was asked."""


class ConditionFailedError(TableError):
    """A conditional write found the item in another state than the condition required."""


# --- routing control ---------------------------------------------------------------------


class RoutingError(MrBatchError):
    """The routing control refused or could not answer."""


class MailError(MrBatchError):
    """The mail server refused a message or could not be reached."""


class FencedError(MrBatchError):
    """A side effect was refused because the work started under an epoch no longer active."""


class ValidationError(MrBatchError):
    """A record broke a rule (the per-record chunk processor's "Validate Data" step); its
    message is the error record as JSON, which the workflow stores in the error table."""
