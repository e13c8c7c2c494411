"""Entry point of every stack process: `python -m mrbatch.runtime.services.child KIND ...`.

The supervisor starts one of these per service. The child loads the stack's settings from
the data directory, runs its service until SIGTERM/SIGINT, and reports readiness by writing
`run/<name>.json` with its pid and endpoints (see `mrbatch.runtime.services.supervisor`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from mrbatch.atomic import atomic_write_json
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.files import PRIVATE_UMASK
from mrbatch.runtime.jsonlog import configure_logging

__all__ = ["SERVICES", "Service", "main"]


class Service(Protocol):
    """What each service module provides."""

    def __call__(
        self,
        config: StackConfig,
        args: list[str],
        ready: Callable[[dict[str, Any]], None],
        stop: threading.Event,
    ) -> None: ...


# kind -> "module:function"; imported lazily so each process loads only what it runs
SERVICES: dict[str, str] = {
    "region": "mrbatch.runtime.services.region:serve",
    "replicator": "mrbatch.runtime.services.replicator:serve",
    "gateway": "mrbatch.runtime.services.gateway:serve",
    "mail": "mrbatch.runtime.services.mail:serve",
}


def _load(kind: str) -> Service:
    module_name, _, function = SERVICES[kind].partition(":")
    service: Service = getattr(importlib.import_module(module_name), function)
    return service


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mrbatch.runtime.services.child")
    parser.add_argument("kind", choices=sorted(SERVICES))
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--name", required=True)
    options, rest = parser.parse_known_args(argv)
    os.umask(PRIVATE_UMASK)  # inherited from the supervisor too; explicit for any launcher
    # JSON lines into logs/<name>.jsonl (read by `mrbatch logs`), text on stdout
    configure_logging(
        options.data_dir, options.name, options.name if options.kind == "region" else None
    )
    config = StackConfig.load(options.data_dir)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def ready(record: dict[str, Any]) -> None:
        ready_file = config.ready_file(options.name)
        atomic_write_json(ready_file, {"pid": os.getpid(), "kind": options.kind, **record})

    _load(options.kind)(config, rest, ready, stop)


if __name__ == "__main__":
    main()
