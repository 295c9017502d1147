"""The shared HTTP sender: every httpx failure and unexpected status becomes an InboxError."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import httpx
import pytest

from synthetics.inbox import InboxError
from synthetics.inbox._http import HttpApi

SECRET = "sk-live-7f3a9c1e"


def api(handler: Callable[[httpx.Request], httpx.Response]) -> HttpApi:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpApi("fakeprov", "https://api.example/", client,
                   headers={"x-api-key": SECRET}, secrets=[SECRET])  # fmt: skip


def _httpx_exceptions() -> list[type[Exception]]:
    return sorted(
        (
            value
            for value in vars(httpx).values()
            if inspect.isclass(value) and issubclass(value, Exception)
        ),
        key=lambda cls: cls.__name__,
    )


def _instance(cls: type[Exception], request: httpx.Request) -> Exception:
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    try:
        return cls("boom")
    except TypeError:  # StreamClosed and friends take no message
        return cls()


@pytest.mark.parametrize("cls", _httpx_exceptions(), ids=lambda cls: cls.__name__)
def test_every_httpx_exception_is_translated(cls: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise _instance(cls, request)

    with pytest.raises(InboxError) as caught:
        api(handler).call("GET", "/things")

    error = caught.value
    assert str(error).startswith("fakeprov: GET /things ")
    assert error.__cause__ is None and error.__suppress_context__
    assert error.transient is issubclass(cls, httpx.TransportError)


@pytest.mark.parametrize(
    ("status", "transient", "hint"),
    [
        (400, False, "Bad Request"),
        (401, False, "authentication failed, check the credentials"),
        (403, False, "permission denied"),
        (404, False, "not found"),
        (429, True, "Too Many Requests"),
        (500, False, "Internal Server Error"),
        (502, True, "Bad Gateway"),
        (503, True, "Service Unavailable"),
        (504, True, "Gateway Timeout"),
    ],
)
def test_unexpected_status(status: int, transient: bool, hint: str) -> None:
    with pytest.raises(InboxError) as caught:
        api(lambda request: httpx.Response(status, text="nope")).call("GET", "/things")

    assert caught.value.status == status
    assert caught.value.transient is transient
    assert str(caught.value) == f"fakeprov: GET /things answered HTTP {status} ({hint}): 'nope'"


def test_expected_statuses_pass_through() -> None:
    response = api(lambda request: httpx.Response(404)).call("GET", "/x", ok=(200, 404))
    assert response.status_code == 404


def test_secrets_echoed_by_the_server_are_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"bad key {request.headers['x-api-key']}")

    with pytest.raises(InboxError) as caught:
        api(handler).call("GET", "/x")
    assert SECRET not in str(caught.value)
    assert "bad key ***" in str(caught.value)


def test_long_error_bodies_are_cut() -> None:
    with pytest.raises(InboxError) as caught:
        api(lambda request: httpx.Response(500, text="x" * 5000)).call("GET", "/x")
    assert len(str(caught.value)) < 300


def test_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    client = api(handler)
    response = client.call("POST", "/items", params={"a": "1 2", "n": 3}, json={"k": "v"},
                           ok=(201,))  # fmt: skip

    assert client.json(response) == {"ok": True}
    assert str(seen[0].url) == "https://api.example/items?a=1+2&n=3"
    assert seen[0].headers["x-api-key"] == SECRET
    assert seen[0].content == b'{"k":"v"}'


def test_non_json_body_is_an_inbox_error() -> None:
    client = api(lambda request: httpx.Response(200, text="<html>proxy login</html>"))
    response = client.call("GET", "/x")
    with pytest.raises(InboxError, match=r"GET /x answered with a body that is not JSON"):
        client.json(response)


def test_repr_names_no_secret() -> None:
    text = repr(api(lambda request: httpx.Response(200)))
    assert text == "HttpApi(provider='fakeprov', base_url='https://api.example')"
