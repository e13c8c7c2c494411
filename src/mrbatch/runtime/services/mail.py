"""The mail sink process: a local SMTP server keeping every message as an .eml file, taking
mail only from clients logged in with the stack's credentials."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mrbatch.notify.sink import MailSink
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.wiring import load_credentials

__all__ = ["serve"]


def serve(
    config: StackConfig,
    args: list[str],
    ready: Callable[[dict[str, Any]], None],
    stop: threading.Event,
) -> None:
    """Run the sink until `stop` is set; reports `smtp_port`."""
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    sink = MailSink(config.mail_dir, credentials=load_credentials(config), port=port).start()
    try:
        ready({"smtp_port": sink.port})
        stop.wait()
    finally:
        sink.stop()
