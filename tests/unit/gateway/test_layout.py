"""The part layout kept with a multipart object: compact, bounded, and read back."""

from __future__ import annotations

from mrbatch.accesspoint.layout import MAX_ENCODED_CHARS, PartLayout, layout_of
from mrbatch.ports import MULTIPART_HEADER, ObjectInfo

MB = 1024 * 1024


def test_layout_round_trips_with_run_length_sizes_and_checksums() -> None:
    layout = PartLayout.of_parts("e" * 32 + "-3", [5 * MB, 5 * MB, 7], ["YQ==", "Yg==", "Yw=="])
    encoded = layout.encode()
    assert encoded is not None and '"sizes":[[5242880,2],[7,1]]' in encoded
    assert layout_of({MULTIPART_HEADER: encoded}) == layout
    assert layout.span(3) == (10 * MB, 7)


def test_ten_thousand_equal_parts_fit_without_their_checksums() -> None:
    sums = ["A" * 43 + "="] * 10_000
    layout = PartLayout.of_parts("e" * 32 + "-10000", [5 * MB] * 9_999 + [1], sums)
    encoded = layout.encode()
    assert encoded is not None and len(encoded) <= MAX_ENCODED_CHARS
    read = layout_of({MULTIPART_HEADER: encoded})
    assert read is not None and (len(read.sizes), read.checksums) == (10_000, ())


def test_parts_of_many_sizes_leave_no_layout() -> None:
    layout = PartLayout.of_parts("e" * 32 + "-500", [5 * MB + n for n in range(500)], [])
    assert layout.encode() is None


def test_a_part_without_a_checksum_keeps_none() -> None:
    assert PartLayout.of_parts("x-2", [5 * MB, 1], ["YQ==", None]).checksums == ()


def test_object_put_in_one_piece_has_no_layout() -> None:
    info = ObjectInfo("k", 1, "e", "v", 0.0, headers={"content-type": "text/csv"})
    assert layout_of(info.headers) is None
