"""The routing control's HTTP API: bearer token or SigV4, JSON in and out, and its client."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from mrbatch.accesspoint import HttpRoutingControl, control_token
from mrbatch.errors import ConditionFailedError, RoutingError

from .conftest import EAST, WEST, Gateway


def _bearer(gateway: Gateway) -> dict[str, str]:
    return {"authorization": f"Bearer {control_token(gateway.credentials)}"}


def test_health_needs_no_credentials(gateway: Gateway) -> None:
    assert httpx.get(f"{gateway.url}/control/health").json() == {"status": "ok"}


def test_state_without_credentials_is_401_and_bad_token_403(gateway: Gateway) -> None:
    assert httpx.get(f"{gateway.url}/control/state").status_code == 401
    bad = httpx.get(f"{gateway.url}/control/state", headers={"authorization": "Bearer nope"})
    assert (bad.status_code, bad.json()["error"]) == (403, "AccessDenied")


def test_state_and_flip_with_bearer_token(gateway: Gateway) -> None:
    state = httpx.get(f"{gateway.url}/control/state", headers=_bearer(gateway)).json()
    assert (state["active_region"], state["epoch"], state["reason"]) == (EAST, 1, "initial")
    flipped = httpx.post(
        f"{gateway.url}/control/active",
        headers=_bearer(gateway),
        json={"region": WEST, "reason": "failover drill", "expected_epoch": 1},
    )
    assert flipped.status_code == 200
    assert (flipped.json()["active_region"], flipped.json()["epoch"]) == (WEST, 2)
    assert gateway.routing.state().active_region == WEST
    history = httpx.get(f"{gateway.url}/control/history", headers=_bearer(gateway)).json()
    assert [(s["active_region"], s["epoch"]) for s in history["history"]] == [(EAST, 1), (WEST, 2)]


def test_stale_expected_epoch_is_409_and_changes_nothing(gateway: Gateway) -> None:
    response = httpx.post(
        f"{gateway.url}/control/active",
        headers=_bearer(gateway),
        json={"region": WEST, "reason": "late", "expected_epoch": 7},
    )
    assert (response.status_code, response.json()["error"]) == (409, "ConditionFailed")
    assert gateway.routing.state().epoch == 1


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"region": "eu-west-9", "reason": "x"}, 400, "InvalidRegion"),
        ({"reason": "no region"}, 400, "InvalidRequest"),
        ({"region": WEST, "reason": "x", "expected_epoch": "1"}, 400, "InvalidRequest"),
        ([1, 2], 400, "InvalidRequest"),
    ],
)
def test_bad_flip_requests_are_400(gateway: Gateway, body: object, status: int, error: str) -> None:
    response = httpx.post(f"{gateway.url}/control/active", headers=_bearer(gateway), json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)


@pytest.mark.parametrize(("method", "path"), [("POST", "/active"), ("GET", "/state")])
def test_body_over_64_kib_is_413_and_changes_nothing(
    gateway: Gateway, method: str, path: str
) -> None:
    body = json.dumps({"region": WEST, "reason": "x" * 70_000}).encode()
    response = httpx.request(
        method, f"{gateway.url}/control{path}", content=body, headers=_bearer(gateway)
    )
    assert (response.status_code, response.json()["error"]) == (413, "RequestTooLarge")
    assert gateway.routing.state().epoch == 1


def _sigv4_post(gateway: Gateway, body: bytes, **headers: str) -> AWSRequest:
    """POST /control/active signed by botocore; an `x_amz_content_sha256` header is signed as
    the payload hash instead of the body's (botocore puts that header's value in the
    canonical request)."""
    request = AWSRequest(
        method="POST",
        url=f"{gateway.url}/control/active",
        data=body,
        headers={"content-type": "application/json"}
        | {name.replace("_", "-"): value for name, value in headers.items()},
    )
    creds = BotoCredentials(
        gateway.credentials.access_key_id, gateway.credentials.secret_access_key
    )
    SigV4Auth(creds, "execute-api", "us-east-1").add_auth(request)
    return request


def test_sigv4_signed_flip_is_accepted_and_a_changed_body_is_refused(gateway: Gateway) -> None:
    body = json.dumps({"region": WEST, "reason": "signed"}).encode()
    signed = _sigv4_post(gateway, body)
    headers = dict(signed.headers.items())
    ok = httpx.post(signed.url, content=body, headers=headers)
    assert (ok.status_code, ok.json()["reason"]) == (200, "signed")
    changed = body.replace(b"signed", b"forged")
    refused = httpx.post(signed.url, content=changed, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (403, "SignatureDoesNotMatch")
    assert gateway.routing.state().reason == "signed"


def test_sigv4_with_unsigned_payload_is_refused_so_it_cannot_be_replayed(
    gateway: Gateway,
) -> None:
    # A captured request whose signature covers UNSIGNED-PAYLOAD would verify with any body
    # for 15 minutes: the control API refuses it whatever the body.
    body = json.dumps({"region": WEST, "reason": "captured"}).encode()
    signed = _sigv4_post(gateway, body, x_amz_content_sha256="UNSIGNED-PAYLOAD")
    headers = dict(signed.headers.items())
    for sent in (body, body.replace(b"captured", b"replayed")):
        refused = httpx.post(signed.url, content=sent, headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (403, "AccessDenied")
        assert "payload" in refused.json()["message"]
    assert (gateway.routing.state().active_region, gateway.routing.state().epoch) == (EAST, 1)


def test_sigv4_with_signed_body_hash_is_accepted_once_and_refused_with_another_body(
    gateway: Gateway,
) -> None:
    body = json.dumps({"region": WEST, "reason": "hashed"}).encode()
    digest = hashlib.sha256(body).hexdigest()
    signed = _sigv4_post(gateway, body, x_amz_content_sha256=digest)
    headers = dict(signed.headers.items())
    replayed = httpx.post(signed.url, content=body.replace(b"hashed", b"forged"), headers=headers)
    assert (replayed.status_code, replayed.json()["error"]) == (400, "XAmzContentSHA256Mismatch")
    assert gateway.routing.state().epoch == 1
    ok = httpx.post(signed.url, content=body, headers=headers)
    assert (ok.status_code, ok.json()["reason"]) == (200, "hashed")


def test_presigned_control_request_without_payload_hash_is_refused(gateway: Gateway) -> None:
    request = AWSRequest(method="POST", url=f"{gateway.url}/control/active")
    creds = BotoCredentials(
        gateway.credentials.access_key_id, gateway.credentials.secret_access_key
    )
    SigV4QueryAuth(creds, "execute-api", "us-east-1", expires=60).add_auth(request)
    body = json.dumps({"region": WEST, "reason": "presigned"}).encode()
    refused = httpx.post(request.url, content=body)
    # Only the Authorization header authenticates here: a presigned URL carries no body hash.
    assert (refused.status_code, refused.json()["error"]) == (401, "Unauthorized")
    assert gateway.routing.state().epoch == 1


def test_http_routing_control_client_round_trip(gateway: Gateway) -> None:
    client = HttpRoutingControl(gateway.url, gateway.credentials)
    try:
        assert client.state().active_region == EAST
        state = client.set_active(WEST, "via client", expected_epoch=1)
        assert (state.active_region, state.epoch, state.reason) == (WEST, 2, "via client")
        with pytest.raises(ConditionFailedError):
            client.set_active(EAST, "stale", expected_epoch=1)
        with pytest.raises(RoutingError, match="InvalidRegion"):
            client.set_active("mars-1", "nope")
        assert [s.epoch for s in client.history()] == [1, 2]
    finally:
        client.close()


def test_http_routing_control_unreachable_is_routing_error(gateway: Gateway) -> None:
    url = gateway.url
    gateway.server.stop()
    client = HttpRoutingControl(url, gateway.credentials, timeout=2.0)
    try:
        with pytest.raises(RoutingError, match="unreachable"):
            client.state()
    finally:
        client.close()


def test_metrics_are_readable_through_the_control_api() -> None:
    from mrbatch.accesspoint import AccessPoint, GatewayServer, build_app, generate_credentials
    from mrbatch.metrics import MemoryMetrics
    from mrbatch.routing import MemoryRoutingControl
    from mrbatch.storage import MemoryObjectStore

    routing = MemoryRoutingControl([EAST, WEST])
    metrics = MemoryMetrics(clock=lambda: 1_000.0)
    metrics.count("ProcessedFiles", 2, region=EAST)
    metrics.count("FailedFiles", region=WEST)
    credentials = generate_credentials()
    access_point = AccessPoint(
        {EAST: MemoryObjectStore("e"), WEST: MemoryObjectStore("w")}, routing
    )
    bearer = {"authorization": f"Bearer {control_token(credentials)}"}
    with GatewayServer(build_app(access_point, [credentials], metrics=metrics)) as server:
        url = f"{server.url}/control/metrics"
        assert httpx.get(url).status_code == 401
        answer = httpx.get(url, params={"name": "ProcessedFiles"}, headers=bearer).json()
        assert answer == {
            "points": [{"name": "ProcessedFiles", "value": 2.0, "region": EAST,
                        "timestamp": 1_000.0, "dimensions": {}}]
        }  # fmt: skip
        later = httpx.get(url, params={"since": "1001"}, headers=bearer).json()
        assert later == {"points": []}
        bad = httpx.get(url, params={"since": "soon"}, headers=bearer)
        assert bad.status_code == 400
    with GatewayServer(build_app(access_point, [credentials])) as bare:
        assert httpx.get(f"{bare.url}/control/metrics", headers=bearer).status_code == 404
