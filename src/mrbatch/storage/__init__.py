"""Object stores: one region's bucket behind the `ObjectStore` port.

- `MemoryObjectStore`: in-process fake for tests.
- `LocalObjectStore`: a directory with an SQLite index (the local target).
- `S3ObjectStore`: an S3 bucket through an injected boto3 client (the AWS target).
"""

from mrbatch.storage.keys import validate_key, validate_metadata, validate_prefix
from mrbatch.storage.local import LocalObjectStore
from mrbatch.storage.memory import MemoryObjectStore
from mrbatch.storage.s3 import S3ObjectStore

__all__ = [
    "LocalObjectStore",
    "MemoryObjectStore",
    "S3ObjectStore",
    "validate_key",
    "validate_metadata",
    "validate_prefix",
]
