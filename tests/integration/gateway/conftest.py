"""A real gateway (uvicorn on a free port) over two LocalObjectStores, for boto3 and httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mrbatch.accesspoint import (
    AccessPoint,
    Credentials,
    GatewayServer,
    build_app,
    generate_credentials,
)
from mrbatch.errors import ConditionFailedError, RoutingError
from mrbatch.ports import RoutingState
from mrbatch.storage.local import LocalObjectStore

EAST, WEST = "us-east-1", "us-west-2"


class ListRoutingControl:
    """A RoutingControl held in a list, for tests only (the product one is SQLite-backed)."""

    def __init__(self, regions: tuple[str, ...], active: str) -> None:
        self.regions = regions
        self._history = [RoutingState(active, 1, time.time(), "initial")]
        self._lock = threading.Lock()

    def state(self) -> RoutingState:
        return self._history[-1]

    def set_active(
        self, region: str, reason: str, *, expected_epoch: int | None = None
    ) -> RoutingState:
        with self._lock:
            current = self._history[-1]
            if region not in self.regions:
                raise RoutingError(f"unknown region {region!r}")
            if expected_epoch is not None and expected_epoch != current.epoch:
                raise ConditionFailedError(f"epoch is {current.epoch}, not {expected_epoch}")
            state = RoutingState(region, current.epoch + 1, time.time(), reason)
            self._history.append(state)
            return state

    def history(self) -> list[RoutingState]:
        return list(self._history)


@dataclass
class Gateway:
    """A running gateway and the parts behind it."""

    server: GatewayServer
    stores: dict[str, LocalObjectStore]
    routing: ListRoutingControl
    credentials: Credentials
    down: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, credentials: Credentials | None = None, **config: Any) -> Any:
        """A boto3 S3 client aimed at the gateway (path style, SigV4, us-east-1)."""
        creds = credentials or self.credentials
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
        )


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    started: list[GatewayServer] = []

    def make(*, clock: Callable[[], float] = time.time) -> Gateway:
        stores = {
            region: LocalObjectStore(tmp_path / region / "bucket", bucket=f"mrbatch-{region}")
            for region in (EAST, WEST)
        }
        routing = ListRoutingControl((EAST, WEST), EAST)
        down: set[str] = set()
        access_point = AccessPoint(stores, routing, is_available=lambda r: r not in down)
        credentials = generate_credentials()
        app = build_app(
            access_point, [credentials], clock=clock, multipart_dir=tmp_path / "multipart"
        )
        server = GatewayServer(app).start()
        started.append(server)
        return Gateway(server, stores, routing, credentials, down)

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., Gateway]) -> Gateway:
    return make_gateway()
