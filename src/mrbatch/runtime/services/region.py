"""A region process: trigger, workflow engine (with its worker pool) and enrichment API.

One OS process per region, so that killing a region kills everything it was doing, as the
loss of an AWS Region would. The loop does two things every tick:

- **trigger**: read the region bucket's change feed (object-created events, at least once)
  and drive every new `input/` object through `drive_file` (standby regions skip);
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
from mrbatch.asl import Engine, ExecutionStatus, ResourceRegistry
from mrbatch.enrichment.api import build_app
from mrbatch.handlers.integrations import (
    StoreObjects,
    create_state_machines,
    orchestrator_listener,
    register_region_resources,
)
from mrbatch.handlers.region import install_region_spec
from mrbatch.handlers.steps import LOST_ACTIVATION
from mrbatch.handlers.trigger import drive_file
from mrbatch.ports import RoutingControl, Table
from mrbatch.runtime.config import StackConfig
from mrbatch.runtime.operations.takeover import TakeoverWatch
from mrbatch.runtime.replication.changefeed import ChangeFeed
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
TRIGGER_CONSUMER = "trigger"


class RegionLoop:
    """The trigger and the fence of one region, one `tick()` at a time."""

    def __init__(
        self,
        *,
        region: str,
        engine: Engine,
        feed: ChangeFeed,
        batch_state: Table,
        routing: RoutingControl,
        takeover: TakeoverWatch,
        suffixes: tuple[str, ...],
    ) -> None:
        self.region = region
        self.engine = engine
        self.feed = feed
        self.batch_state = batch_state
        self.routing = routing
        self.takeover = takeover
        self.suffixes = suffixes
        self._fenced_epoch: int | None = None

    def tick(self) -> None:
        self.deliver_events()
        self.fence()
        self.takeover.tick()

    def deliver_events(self) -> int:
        """Drive every new input object; an event is acknowledged only once handled."""
        handled = 0
        for change in self.feed.read(TRIGGER_CONSUMER):
            drive_file(
                region=self.region,
                key=change.key,
                version_id=change.version_id,
                batch_state=self.batch_state,
                routing=self.routing,
                start=self._start,
                event={"key": change.key, "versionId": change.version_id, "etag": change.etag,
                       "replica": change.replica, "eventTime": change.created_at},
                suffixes=self.suffixes,
            )  # fmt: skip
            self.feed.ack(TRIGGER_CONSUMER, change.seq)
            handled += 1
        return handled

    def _start(self, name: str, payload: dict[str, Any]) -> str:
        return self.engine.start_execution(MAIN_ORCHESTRATOR, payload, name=name)

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
    spec = LocalRegionSpec(config.data_dir, region, api.url)
    ports = spec.build()
    # resources first: the engine resumes unfinished executions as it opens
    registry = ResourceRegistry()
    resources = register_region_resources(
        registry, ports, role_auth=IamAuth(credentials, region=region)
    )
    engine = Engine(
        config.workflows_db(region),
        resources=registry,
        workers=options.workers,
        region=region,
        worker_initializer=functools.partial(install_region_spec, spec),  # no environment
        objects=StoreObjects(ports.store),  # the chunk Map reads the split's manifest
        listeners=[orchestrator_listener(ports)],  # every end of a run recorded on its file
    )
    try:
        create_state_machines(engine, enrichment_endpoint=api.url)
        loop = RegionLoop(
            region=region,
            engine=engine,
            feed=open_region_store(config, region).feed,
            batch_state=tables.batch_state,
            routing=open_routing(config),
            takeover=TakeoverWatch(config, region),
            suffixes=config.input_suffixes,
        )
        ready({"enrichment_url": api.url})
        while not stop.wait(0.1):
            try:
                loop.tick()
            except Exception:
                log.exception("region loop tick failed; retrying")
    finally:
        engine.close()
        resources.close()
        api.stop()
        tables.close()
