"""Starting and describing a whole local stack (what `mrbatch up` and `demo` run).

Start order matters: the mail sink and the gateway come first, because the regions'
handlers need their endpoints (published in `endpoints.json`); then both regions and the
replicator. The gateway keeps one port for the life of the data directory, so presigned
links already emailed keep working after a restart. The data directory is private to the
user (`private_data_dir`) before anything is written into it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.files import private_data_dir
from mrbatch.runtime.operations.financials import (
    has_financials,
    load_financials_file,
    wait_for_financials,
)
from mrbatch.runtime.services.supervisor import (
    ChildSpec,
    Supervisor,
    write_stack_file,
)
from mrbatch.runtime.wiring import ensure_credentials, open_routing, write_endpoints

__all__ = ["free_port", "prepare_config", "start_stack"]

log = logging.getLogger(__name__)

# how long start-up waits for the standby to hold a configured financial load: at least
# two minutes, and a second per 2,000 rows beyond (1M rows replicate in ~15-60 s, a busy
# machine being the slow end)
_REPLICA_WAIT_SECONDS = 120.0
_REPLICA_ROWS_PER_SECOND = 2_000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_config(config: StackConfig) -> StackConfig:
    """Make the data directory private, fix the ports the stack keeps (chosen now when 0)
    and save the settings."""
    config = replace(
        config,
        gateway_port=config.gateway_port or free_port(),
        smtp_port=config.smtp_port or free_port(),
    )
    private_data_dir(config.data_dir)
    config.save()
    return config


def start_stack(config: StackConfig, *, timeout: float = 90.0) -> tuple[Supervisor, dict[str, Any]]:
    """Start every process of the stack and publish `stack.json`; returns the supervisor
    (the caller stops it) and the stack's description."""
    config = prepare_config(config)
    for flag in config.run_dir.glob("replication*.paused"):
        flag.unlink()  # a partition drilled in an earlier run does not outlive it
    credentials = ensure_credentials(config)
    open_routing(config)  # creates the control store: the first region starts active
    supervisor = Supervisor(config)
    shared = supervisor.start(
        [
            ChildSpec("mail", "mail", ("--port", str(config.smtp_port))),
            ChildSpec("gateway", "gateway", ("--port", str(config.gateway_port))),
        ],
        timeout=timeout,
    )
    endpoints = {"gateway": shared["gateway"]["url"], "smtp_port": shared["mail"]["smtp_port"]}
    write_endpoints(config, endpoints)
    regions = supervisor.start(
        [ChildSpec(region, "region", ("--region", region)) for region in config.regions]
        + [ChildSpec("replicator", "replicator")],
        timeout=timeout,
    )
    record: dict[str, Any] = {
        "data_dir": str(config.data_dir),
        "supervisor_pid": os.getpid(),
        "gateway": endpoints["gateway"],
        "control_api": endpoints["gateway"] + "/control",
        "smtp": f"127.0.0.1:{endpoints['smtp_port']}",
        "bucket": config.bucket_alias,
        "regions": {
            region: {
                "enrichment_api": regions[region]["enrichment_url"],
                "pid": regions[region]["pid"],
            }
            for region in config.regions
        },
        "credentials": {
            "aws_access_key_id": credentials.access_key_id,
            "aws_secret_access_key": credentials.secret_access_key,
        },
        "pids": {name: proc.pid for name, proc in supervisor.processes.items()},
    }
    write_stack_file(config, record)
    try:
        _load_configured_financials(config)
    except BaseException:
        supervisor.stop()
        raise
    return supervisor, record


def _load_configured_financials(
    config: StackConfig, *, replica_wait: float = _REPLICA_WAIT_SECONDS
) -> None:
    """Load the financial file named in the settings (`up --financials`) into the active
    region, once: when the table already holds data (an earlier start loaded it, or
    `mrbatch financials load`), nothing is loaded again. Waits for the replica, so both
    regions enrich the same way from the first file on; a replica still behind after the
    wait is logged, not fatal (the stack serves, and replication catches up)."""
    path = config.extra.get("financials")
    active = open_routing(config).state().active_region
    if not path or has_financials(config, active):
        return
    report = load_financials_file(config, Path(path))
    timeout = max(replica_wait, report.rows / _REPLICA_ROWS_PER_SECOND)
    if not wait_for_financials(config, report, timeout=timeout):
        # a slow replica is no reason to stop a stack that serves: the standby catches up
        # by itself (the replicator keeps copying), and until then enriches with what it has
        log.warning(
            "the %d financial records loaded into %s are not all in the standby after %.0f s;"
            " replication goes on in the background",
            report.rows, active, timeout,
        )  # fmt: skip
