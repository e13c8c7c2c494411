"""DeleteObjects (`POST /<bucket>?delete`): many keys in one request, as `aws s3 rm
--recursive` and boto3's `bucket.objects.delete()` send them.

Each key is deleted through the access point exactly as a DeleteObject would be (in every
available region); a key that fails is reported in an `<Error>` entry and the others still
go ahead, as on S3. Deleting a missing key is a success (S3 reports it `Deleted`).
An object may carry conditions (`ETag`, `LastModifiedTime`, `Size`, as S3's conditional
deletes): one that does not hold is a `PreconditionFailed` entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from mrbatch.accesspoint.responses import S3_XMLNS
from mrbatch.accesspoint.s3errors import S3Error, malformed_xml
from mrbatch.errors import InvalidKeyError, StorageError
from mrbatch.storage.keys import validate_key

__all__ = ["MAX_DELETE_BODY", "DeleteRequest", "DeleteTarget", "delete_all", "parse_delete"]

MAX_DELETE_BODY = 2 * 1024 * 1024  # 1,000 keys of 1,024 bytes, escaped, with their tags
_MAX_KEYS = 1000


@dataclass(frozen=True)
class DeleteTarget:
    """One object to delete and the conditions it must meet (None: no condition)."""

    key: str
    etag: str | None = None
    last_modified: float | None = None
    size: int | None = None


@dataclass(frozen=True)
class DeleteRequest:
    """The objects to delete, in document order, and whether only errors are reported."""

    objects: list[DeleteTarget]
    quiet: bool


def parse_delete(document: bytes) -> DeleteRequest:
    """The `<Delete>` document. Raises 400 MalformedXML (no DTDs: no entity expansion)."""
    if b"<!DOCTYPE" in document.upper() or b"<!ENTITY" in document.upper():
        raise malformed_xml("document type declarations are not allowed")
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as exc:
        raise malformed_xml(str(exc)) from None
    if _local(root.tag) != "Delete":
        raise malformed_xml(f"the root element is {_local(root.tag)}")
    objects, quiet = [], False
    for child in root:
        if _local(child.tag) == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif _local(child.tag) == "Object":
            objects.append(_target(child))
    if not 1 <= len(objects) <= _MAX_KEYS:
        raise malformed_xml(f"a Delete names 1 to {_MAX_KEYS} objects, not {len(objects)}")
    return DeleteRequest(objects, quiet)


def _target(element: ElementTree.Element) -> DeleteTarget:
    fields = {_local(child.tag): child.text for child in element}
    key = fields.get("Key")
    if key is None:
        raise malformed_xml("each Object needs a Key")
    etag, modified, size = (fields.get(n) for n in ("ETag", "LastModifiedTime", "Size"))
    try:
        return DeleteTarget(
            key,
            None if etag is None else etag.strip(),
            None if modified is None else _timestamp(modified.strip()),
            None if size is None else int(size.strip()),
        )
    except ValueError:
        raise malformed_xml("LastModifiedTime must be a date, Size an integer") from None


def _timestamp(text: str) -> float:
    """LastModifiedTime as SDKs write it (an HTTP date: botocore) or ISO 8601."""
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return datetime.fromisoformat(text).timestamp()


def delete_all(request: DeleteRequest, delete: Callable[[DeleteTarget], object]) -> bytes:
    """Delete each object with `delete`; the `<DeleteResult>` document."""
    entries = []
    for target in request.objects:
        key = target.key
        try:
            validate_key(key)
            delete(target)
        except InvalidKeyError as exc:
            entries.append(_error(key, "InvalidArgument", str(exc)))
            continue
        except S3Error as err:
            entries.append(_error(key, err.code, err.message))
            continue
        except StorageError as exc:
            entries.append(_error(key, "InternalError", str(exc)))
            continue
        if not request.quiet:
            entries.append(f"<Deleted><Key>{_text(key)}</Key></Deleted>")
    body = "".join(entries)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="{S3_XMLNS}">'
        f"{body}</DeleteResult>"
    ).encode()


def _error(key: str, code: str, message: str) -> str:
    return (
        f"<Error><Key>{_text(key)}</Key><Code>{_text(code)}</Code>"
        f"<Message>{_text(message)}</Message></Error>"
    )


def _text(value: str) -> str:
    """Escaped for XML 1.0: white space as character references (S3 sends them so), other
    control characters, which XML 1.0 cannot carry at all, as U+FFFD."""
    escaped = escape(value)
    return "".join(
        f"&#{ord(ch)};" if ch in "\n\r\t" else "\ufffd" if ord(ch) < 0x20 else ch for ch in escaped
    )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
