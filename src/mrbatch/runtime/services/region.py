"""A region process: trigger, workflow engine (with its worker pool) and enrichment API.

One OS process per region, so that killing a region kills everything it was doing, as the
loss of an AWS Region would. The loop does three things every tick (every 0.1 s, or at
once when a main orchestrator run ends, so the next queued file starts without waiting):

- **trigger**: read the region bucket's change feed (object-created events, at least once),
  accept every new `input/` object (standby regions skip), and start the accepted files in
  arrival order, at most `max_files_in_flight` at once (`AdmissionQueue`);
- **fence**: when the routing control's epoch moves away from the work this region has in
  flight, stop those executions (ABORTED, with the reason in their history) so they commit
  nothing more; the handlers check the epoch before every side effect as well;
- **take over**: when this region is active under an epoch nobody has reconciled yet
  (however the epoch moved: runbook, control API, script), reconcile once
  (`mrbatch.runtime.operations.takeover`), so no fenced file is left without a run.
"""

from __future__ import annotations

import argparse
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from mrbatch.accesspoint import GatewayServer
from mrbatch.accesspoint.iam import IamAuth
from mrbatch.asl import Engine, ExecutionRecord, ExecutionStatus, ResourceRegistry
from mrbatch.enrichment.api import build_app
from mrbatch.handlers.integrations import (
    StoreObjects,
    create_state_machines,
    orchestrator_listener,
    register_region_resources,
)
from mrbatch.handlers.region import install_region_spec
from mrbatch.handlers.steps import LOST_ACTIVATION
from mrbatch.ports import RoutingControl
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.takeover import TakeoverWatch
from mrbatch.runtime.services.admission import AdmissionQueue
from mrbatch.runtime.wiring import (
    LocalRegionSpec,
    load_credentials,
    open_region_store,
    open_routing,
    open_tables,
)

__all__ = ["MAIN_ORCHESTRATOR", "RegionLoop", "serve"]

log = logging.getLogger(__name__)

MAIN_ORCHESTRATOR = "main_orchestrator"


class RegionLoop:
    """The trigger (with its admission queue), the fence and the takeover watch of one
    region, one `tick()` at a time."""

    def __init__(
        self,
        *,
        region: str,
        engine: Engine,
        queue: AdmissionQueue,
        routing: RoutingControl,
        takeover: TakeoverWatch,
    ) -> None:
        self.region = region
        self.engine = engine
        self.queue = queue
        self.routing = routing
        self.takeover = takeover
        self._fenced_epoch: int | None = None

    def tick(self) -> None:
        self.queue.accept()
        self.fence()  # first: a fenced run frees its place in the queue
        self.queue.admit()
        self.takeover.tick()

    def fence(self) -> int:
        """Stop running executions that belong to an epoch that is no longer this region's."""
        state = self.routing.state()
        if self._fenced_epoch == state.epoch:
            return 0
        stopped = 0
        for record in self.engine.list_executions(status=ExecutionStatus.RUNNING):
            epoch = record.input.get("epoch") if isinstance(record.input, dict) else None
            if epoch is None:
                continue
            if state.active_region != self.region or int(epoch) != state.epoch:
                self.engine.stop_execution(
                    record.arn,
                    error=LOST_ACTIVATION,
                    cause=f"{self.region} lost activation: {state.active_region} is active "
                    f"under epoch {state.epoch} ({state.reason})",
                )
                stopped += 1
        self._fenced_epoch = state.epoch
        if stopped:
            log.info("fenced: stopped %d execution(s) of older epochs", stopped)
        return stopped


def _parse(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="region")
    parser.add_argument("--region", required=True)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args(args)


def serve(
    config: StackConfig,
    args: list[str],
    ready: Callable[[dict[str, Any]], None],
    stop: threading.Event,
) -> None:
    """Run one region until `stop` is set; reports `enrichment_url`."""
    options = _parse(args)
    region = config.check_region(options.region)
    tables = open_tables(config, region)
    credentials = load_credentials(config)  # the API, like the gateway, takes only the stack
    api = GatewayServer(
        build_app(tables.financials, region=region, credentials=[credentials])
    ).start()
    spec = LocalRegionSpec(config.data_dir, region)
    ports = spec.build()
    # resources first: the engine resumes unfinished executions as it opens
    registry = ResourceRegistry()
    resources = register_region_resources(
        registry, ports, role_auth=IamAuth(credentials, region=region)
    )
    wake = threading.Event()
    engine = Engine(
        config.workflows_db(region),
        resources=registry,
        workers=options.workers,
        region=region,
        worker_initializer=functools.partial(install_region_spec, spec),  # no environment
        objects=StoreObjects(ports.store),  # the chunk Map reads the split's manifest
        # every end of a run recorded on its file; and the loop wakes to admit the next
        listeners=[orchestrator_listener(ports), functools.partial(_wake_on_end, wake)],
    )
    try:
        create_state_machines(engine, enrichment_endpoint=api.url)
        routing = open_routing(config)
        queue = AdmissionQueue(
            region=region,
            feed=open_region_store(config, region).feed,
            batch_state=tables.batch_state,
            routing=routing,
            start=functools.partial(_start, engine),
            running=functools.partial(_running, engine),
            limit=config.max_files_in_flight,
            suffixes=config.input_suffixes,
        )
        loop = RegionLoop(
            region=region,
            engine=engine,
            queue=queue,
            routing=routing,
            takeover=TakeoverWatch(config, region),
        )
        ready({"enrichment_url": api.url})
        while not stop.is_set():
            try:
                loop.tick()
            except Exception:
                log.exception("region loop tick failed; retrying")
            wake.wait(0.1)
            wake.clear()
    finally:
        engine.close()
        resources.close()
        api.stop()
        tables.close()


def _start(engine: Engine, name: str, payload: dict[str, Any]) -> str:
    return engine.start_execution(MAIN_ORCHESTRATOR, payload, name=name)


def _running(engine: Engine) -> int:
    """Main orchestrator runs in flight: what the admission queue bounds."""
    return len(engine.list_executions(MAIN_ORCHESTRATOR, ExecutionStatus.RUNNING))


def _wake_on_end(wake: threading.Event, record: ExecutionRecord) -> None:
    """An engine listener: a main orchestrator run ended, so a queued file may start."""
    if record.state_machine_arn.endswith(f":{MAIN_ORCHESTRATOR}"):
        wake.set()
