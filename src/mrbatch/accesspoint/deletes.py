"""DeleteObjects (`POST /<bucket>?delete`): many keys in one request, as `aws s3 rm
--recursive` and boto3's `bucket.objects.delete()` send them.

Each key is deleted through the access point exactly as a DeleteObject would be (in every
available region); a key that fails is reported in an `<Error>` entry and the others still
go ahead, as on S3. Deleting a missing key is a success (S3 reports it `Deleted`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from mrbatch.accesspoint.responses import S3_XMLNS
from mrbatch.accesspoint.s3errors import S3Error, malformed_xml
from mrbatch.errors import InvalidKeyError, StorageError
from mrbatch.storage.keys import validate_key

__all__ = ["MAX_DELETE_BODY", "DeleteRequest", "delete_all", "parse_delete"]

MAX_DELETE_BODY = 2 * 1024 * 1024  # 1,000 keys of 1,024 bytes, escaped, with their tags
_MAX_KEYS = 1000


@dataclass(frozen=True)
class DeleteRequest:
    """The keys to delete, in document order, and whether only errors are reported."""

    keys: list[str]
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
    keys, quiet = [], False
    for child in root:
        if _local(child.tag) == "Quiet":
            quiet = (child.text or "").strip().lower() == "true"
        elif _local(child.tag) == "Object":
            key = next((k.text for k in child if _local(k.tag) == "Key"), None)
            if key is None:
                raise malformed_xml("each Object needs a Key")
            keys.append(key)
    if not 1 <= len(keys) <= _MAX_KEYS:
        raise malformed_xml(f"a Delete names 1 to {_MAX_KEYS} objects, not {len(keys)}")
    return DeleteRequest(keys, quiet)


def delete_all(request: DeleteRequest, delete: Callable[[str], object]) -> bytes:
    """Delete each key with `delete`; the `<DeleteResult>` document."""
    entries = []
    for key in request.keys:
        try:
            validate_key(key)
            delete(key)
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
