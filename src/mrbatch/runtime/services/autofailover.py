"""The automatic failover's runbook, run in a process of its own.

The runbook waits for replication for as long as the SLA allows (15 minutes by default).
Run inside the supervision loop, that wait would stop every restart meanwhile, including
the replicator's it is waiting for, and `mrbatch down` could not stop it. In its own
process group it is supervised like a service: the loop polls it, and stopping the stack
sends it SIGTERM, then SIGKILL. A runbook stopped this way is recorded as `Cancelled`
(the routing control may already have moved: the next failover or failback reconciles).

    python -m mrbatch.runtime.services.autofailover --data-dir D --to us-west-2 --reason "..."
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from mrbatch.errors import MrBatchError
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.files import PRIVATE_UMASK
from mrbatch.runtime.operations.runbook import RunbookLog, run_runbook

__all__ = ["RunbookProcess", "main"]


@dataclass
class RunbookProcess:
    """A failover runbook running in its own process group, started by the supervisor."""

    process: subprocess.Popen[bytes]
    reason: str
    log: Path
    started_at: float = field(default_factory=time.time)

    @classmethod
    def start(cls, config: StackConfig, *, target: str, reason: str) -> RunbookProcess:
        """Start the failover to `target` (it does nothing if `target` became active
        meanwhile); returns at once."""
        log = config.log_file("runbook")
        command = [sys.executable, "-m", "mrbatch.runtime.services.autofailover"]
        command += ["--data-dir", str(config.data_dir), "--to", target, "--reason", reason]
        with log.open("ab") as output:  # the child keeps its copy
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return cls(process, reason, log)

    def poll(self) -> int | None:
        """The runbook's exit code once it has ended, else None."""
        return self.process.poll()

    def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM the runbook, then SIGKILL its process group after `grace` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def describe(self) -> dict[str, Any]:
        """What `stack.json` says about the runbook in progress."""
        return {"pid": self.process.pid, "reason": self.reason, "started_at": self.started_at}


class _Stopped(BaseException):
    """SIGTERM reached the runbook: unwind it (its step is recorded as failed)."""


_STOPPED = "stopped: the stack was shut down"


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(_STOPPED)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mrbatch.runtime.services.autofailover")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--to", required=True)
    parser.add_argument("--reason", required=True)
    options = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)
    config = StackConfig.load(options.data_dir)
    signal.signal(signal.SIGTERM, _stop)
    try:
        run_runbook(config, kind="failover", target=options.to, reason=options.reason, say=_say)
    except _Stopped:
        _cancel(RunbookLog(config), options.reason)
        _say(f"runbook {_STOPPED}")
        sys.exit(143)
    except MrBatchError as exc:
        _say(f"auto-failover failed: {exc}")
        sys.exit(1)


def _cancel(log: RunbookLog, reason: str) -> None:
    """Record the interrupted execution (the newest in progress for `reason`) as Cancelled."""
    for run in log.executions():
        if run["status"] == "InProgress" and run["reason"] == reason:
            log.end(run["id"], "Cancelled", {"error": _STOPPED})
            return


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
