"""LocalObjectStore specifics: durability on disk, confinement, and several processes at once."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

from mrbatch.storage import LocalObjectStore

WORKER = textwrap.dedent(
    """
    import sys
    from mrbatch.errors import ObjectExistsError
    from mrbatch.storage import LocalObjectStore

    store = LocalObjectStore(sys.argv[1])
    me = sys.argv[2]
    try:
        store.put("create-once", me.encode(), if_none_match=True)
        print("won")
    except ObjectExistsError:
        print("lost")
    for n in range(15):
        store.put("shared", f"{me}-{n}".encode() * 1000, metadata={"writer": me, "n": str(n)})
    store.close()
    """
)


def run_workers(directory: Path, count: int) -> list[str]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(directory), f"w{n}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        outputs.append(out.strip())
    return outputs


def blob_files(directory: Path) -> list[Path]:
    return [p for p in (directory / "blobs").rglob("*") if p.is_file()]


def test_processes_racing_create_and_overwrite_stay_consistent(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    LocalObjectStore(bucket).close()
    outputs = run_workers(bucket, 4)
    assert sorted(outputs) == ["lost", "lost", "lost", "won"]
    store = LocalObjectStore(bucket)
    head = store.head("shared")
    body = store.get_bytes("shared")
    writer, n = head.metadata["writer"], head.metadata["n"]
    assert body == f"{writer}-{n}".encode() * 1000
    assert head.etag == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert len(blob_files(bucket)) == 2  # one body per key: replaced bodies are removed
    store.close()


def test_objects_survive_reopening(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "b")
    info = store.put("input/ü.csv", b"abc", metadata={"m": "v"})
    store.close()
    again = LocalObjectStore(tmp_path / "b")
    assert again.head("input/ü.csv") == info
    assert again.bucket == "b"
    again.close()


def test_keys_never_become_paths(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "bucket")
    for key in ["..a/..b", "a//b", "dir/", "x" * 1024, "é" * 512]:
        store.put(key, b"x")
    outside = sorted(p.name for p in tmp_path.iterdir())
    assert outside == ["bucket"]
    inside = sorted(p.name for p in (tmp_path / "bucket").iterdir())
    assert inside[:2] == ["blobs", "index.db"]
    assert all(len(p.name) == 32 for p in blob_files(tmp_path / "bucket"))
    store.close()


def test_open_stream_survives_overwrite_and_delete(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "b")
    store.put("k", b"old" * 1000)
    _, stream = store.get("k")
    store.put("k", b"new")
    store.delete("k")
    with stream:
        assert stream.read() == b"old" * 1000
    assert blob_files(tmp_path / "b") == []
    store.close()


def test_garbage_collection_removes_only_old_orphans(tmp_path: Path) -> None:
    import os

    store = LocalObjectStore(tmp_path / "b")
    store.put("kept", b"live body")
    live = blob_files(tmp_path / "b")
    shard = tmp_path / "b" / "blobs" / "ff"
    shard.mkdir(exist_ok=True)
    old_orphan, tmp_orphan, fresh_orphan = shard / ("f" * 32), shard / ".tmp-x", shard / ("e" * 32)
    for path in (old_orphan, tmp_orphan, fresh_orphan):
        path.write_bytes(b"crash leftovers")
    for path in (old_orphan, tmp_orphan, *live):
        os.utime(path, (1_000_000, 1_000_000))
    assert store.collect_garbage(older_than=3600) == 2
    assert sorted(p.name for p in shard.iterdir() if p not in live) == ["e" * 32]
    assert all(path.exists() for path in live)
    assert store.get_bytes("kept") == b"live body"
    store.close()
