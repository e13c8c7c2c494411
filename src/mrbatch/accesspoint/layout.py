"""The part layout of an object completed from a multipart upload.

S3 remembers an object's parts: GetObjectAttributes lists them (size, checksum) and GET or
HEAD with `partNumber` serves one. The region stores keep objects whole, so the layout is
kept with the object as one stored header (`MULTIPART_HEADER`), which replicates with it:
the multipart ETag, the part sizes run-length encoded (every part but the last usually has
the same size, so 10,000 parts take a few bytes), and the part checksums when the upload
had a checksum algorithm and there are at most `MAX_KEPT_CHECKSUMS` parts (the S3 store
keeps headers in its 2 KB of metadata; beyond that GetObjectAttributes lists parts
without their checksums). An upload of many parts of many different sizes has no room
for its layout: its object is kept as if put in one piece (the store's ETag, one part).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mrbatch.ports import MULTIPART_HEADER, ObjectInfo

__all__ = ["MAX_ENCODED_CHARS", "MAX_KEPT_CHECKSUMS", "PartLayout", "layout_of", "visible_etag"]

MAX_KEPT_CHECKSUMS = 16
# The S3 store keeps stored headers (base64 JSON) in its 2 KB of user metadata.
MAX_ENCODED_CHARS = 1024


@dataclass(frozen=True)
class PartLayout:
    """The parts of a multipart object: ETag (`<md5>-<n>`), sizes and checksums (base64,
    one per part, or none)."""

    etag: str
    sizes: tuple[int, ...]
    checksums: tuple[str, ...] = ()

    def span(self, number: int) -> tuple[int, int]:
        """(first byte, length) of part `number` (1-based, at most `len(sizes)`)."""
        return sum(self.sizes[: number - 1]), self.sizes[number - 1]

    def encode(self) -> str | None:
        """The header value (compact JSON, ASCII), at most `MAX_ENCODED_CHARS` long: without
        the part checksums when they do not fit, None when even the sizes do not (parts of
        many different sizes): such an object is kept as if put in one piece."""
        runs: list[list[int]] = []
        for size in self.sizes:
            if runs and runs[-1][0] == size:
                runs[-1][1] += 1
            else:
                runs.append([size, 1])
        record: dict[str, object] = {"etag": self.etag, "sizes": runs}
        if self.checksums and len(self.checksums) <= MAX_KEPT_CHECKSUMS:
            with_checksums = json.dumps(
                {**record, "checksums": list(self.checksums)}, separators=(",", ":")
            )
            if len(with_checksums) <= MAX_ENCODED_CHARS:
                return with_checksums
        encoded = json.dumps(record, separators=(",", ":"))
        return encoded if len(encoded) <= MAX_ENCODED_CHARS else None

    @classmethod
    def of_parts(
        cls, etag: str, sizes: Sequence[int], checksums: Sequence[str | None]
    ) -> PartLayout:
        """The layout of completed parts; checksums are kept only when every part has one."""
        kept = tuple(c for c in checksums if c)
        return cls(etag, tuple(sizes), kept if len(kept) == len(sizes) else ())


def layout_of(headers: Mapping[str, str]) -> PartLayout | None:
    """The layout stored with an object, None for an object put in one piece."""
    value = headers.get(MULTIPART_HEADER)
    if value is None:
        return None
    record = json.loads(value)
    sizes = tuple(size for size, count in record["sizes"] for _ in range(count))
    return PartLayout(record["etag"], sizes, tuple(record.get("checksums", ())))


def visible_etag(info: ObjectInfo) -> str:
    """The ETag S3 gives the object, which clients see and send back in conditions: the
    multipart ETag (`<md5 of part md5s>-<n>`) for an object completed from an upload, the
    store's (the content MD5) otherwise."""
    layout = layout_of(info.headers)
    return layout.etag if layout is not None else info.etag
