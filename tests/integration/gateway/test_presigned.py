"""Presigned GET links through the access point, used with plain HTTP (no auth headers)."""

from __future__ import annotations

import time
from collections.abc import Callable

import botocore.exceptions
import httpx
import pytest

from mrbatch.accesspoint import presign_get_url

from .conftest import EAST, WEST, Gateway


def _code(response: httpx.Response) -> str:
    return response.text.split("<Code>")[1].split("</Code>")[0]


def test_presigned_url_downloads_with_plain_http(gateway: Gateway) -> None:
    gateway.stores[WEST].put("output/completed/a.csv", b"uuid\n1\n")  # only the standby has it
    url = presign_get_url(gateway.url, "mrbatch", "output/completed/a.csv", gateway.credentials)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"uuid\n1\n"
    assert response.headers["x-mrbatch-region"] == WEST


def test_boto3_presigned_url_works_too(gateway: Gateway) -> None:
    gateway.client().put_object(Bucket="mrbatch", Key="b.csv", Body=b"b")
    url = gateway.client().generate_presigned_url(
        "get_object", Params={"Bucket": "mrbatch", "Key": "b.csv"}, ExpiresIn=60
    )
    assert httpx.get(url).content == b"b"


def test_url_changed_to_another_key_is_refused_with_s3_error_xml(gateway: Gateway) -> None:
    s3 = gateway.client()
    s3.put_object(Bucket="mrbatch", Key="mine.csv", Body=b"mine")
    s3.put_object(Bucket="mrbatch", Key="secret.csv", Body=b"secret")
    url = presign_get_url(gateway.url, "mrbatch", "mine.csv", gateway.credentials)
    response = httpx.get(url.replace("/mine.csv?", "/secret.csv?"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/xml"
    assert _code(response) == "SignatureDoesNotMatch"
    assert b"secret" not in response.content.replace(b"secret.csv", b"")


def test_url_with_changed_signature_is_refused(gateway: Gateway) -> None:
    url = presign_get_url(gateway.url, "mrbatch", "x.csv", gateway.credentials)
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    response = httpx.get(tampered)
    assert (response.status_code, _code(response)) == (403, "SignatureDoesNotMatch")


def test_url_with_longer_expiry_is_refused(gateway: Gateway) -> None:
    url = presign_get_url(gateway.url, "mrbatch", "x.csv", gateway.credentials, expires_in=60)
    response = httpx.get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"))
    assert (response.status_code, _code(response)) == (403, "SignatureDoesNotMatch")


def test_expired_url_is_access_denied_request_has_expired(gateway: Gateway) -> None:
    gateway.client().put_object(Bucket="mrbatch", Key="old.csv", Body=b"old")
    two_hours_ago = time.time() - 7200
    url = presign_get_url(
        gateway.url, "mrbatch", "old.csv", gateway.credentials, expires_in=3600, now=two_hours_ago
    )
    response = httpx.get(url)
    assert (response.status_code, _code(response)) == (403, "AccessDenied")
    assert "<Message>Request has expired</Message>" in response.text


def test_requests_dated_ahead_of_the_server_clock_are_refused(
    make_gateway: Callable[..., Gateway],
) -> None:
    # The gateway's clock runs 20 minutes behind the client's (real time): a presigned URL is
    # "not valid yet" and a header-signed request is skewed, as S3 answers.
    gateway = make_gateway(clock=lambda: time.time() - 20 * 60)
    gateway.stores[EAST].put("ahead.csv", b"ahead")
    url = gateway.client().generate_presigned_url(
        "get_object", Params={"Bucket": "mrbatch", "Key": "ahead.csv"}, ExpiresIn=3600
    )
    response = httpx.get(url)
    assert (response.status_code, _code(response)) == (403, "AccessDenied")
    assert "<Message>Request is not valid yet</Message>" in response.text
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        gateway.client().get_object(Bucket="mrbatch", Key="ahead.csv")
    assert caught.value.response["Error"]["Code"] == "RequestTimeTooSkewed"
