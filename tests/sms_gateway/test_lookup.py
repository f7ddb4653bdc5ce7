"""Subscriber-lookup hook against a real HTTP server on loopback (timeout, 5xx, 404, cache)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from sms_gateway.errors import LookupFailed
from sms_gateway.lookup import SubscriberLookup
from sms_gateway.segments import Carrier

# msisdn → (status, body, delay seconds)
ANSWERS: dict[str, tuple[int, Any, float]] = {
    "13812345678": (200, {"carrier": "telecom", "ported": True, "province": "四川省", "city": "成都"}, 0),
    "18912345678": (200, {"carrier": "mobile", "ported": True}, 0),
    "13312345678": (200, {"carrier": None}, 0),
    "13312340000": (404, {"error": "unknown"}, 0),
    "13312341111": (503, {"error": "busy"}, 0),
    "13312342222": (200, "not json at all", 0),
    "13312343333": (200, {"carrier": "martian"}, 0),
    "13312344444": (200, {"carrier": "telecom"}, 1.5),
}


class Operator(BaseHTTPRequestHandler):
    calls: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        url = urlparse(self.path)
        msisdn = parse_qs(url.query).get("msisdn", [url.path.rsplit("/", 1)[-1]])[0]
        Operator.calls.append((msisdn, self.headers.get("Authorization", "")))
        status, body, delay = ANSWERS.get(msisdn, (404, {}, 0))
        time.sleep(delay)
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client timed out and went away

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def operator_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Operator)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Operator.calls = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class DictCache:
    def __init__(self) -> None:
        self.data: dict[str, tuple[str, int]] = {}

    def get(self, msisdn: str) -> str | None:
        entry = self.data.get(msisdn)
        return entry[0] if entry else None

    def set(self, msisdn: str, value: str, ttl: int) -> None:
        self.data[msisdn] = (value, ttl)


def test_ported_in_answer(operator_url: str) -> None:
    info = SubscriberLookup(operator_url + "/subscriber", token="s3cret").lookup("13812345678")
    assert info is not None
    assert (info.carrier, info.ported, info.province, info.city) == (Carrier.TELECOM, True, "四川", "成都")
    assert Operator.calls == [("13812345678", "Bearer s3cret")]


def test_url_template_and_no_token(operator_url: str) -> None:
    info = SubscriberLookup(operator_url + "/np/{msisdn}").lookup("18912345678")
    assert info is not None and info.carrier is Carrier.MOBILE
    assert Operator.calls == [("18912345678", "")]


def test_unknown_carrier_and_404(operator_url: str) -> None:
    hook = SubscriberLookup(operator_url)
    info = hook.lookup("13312345678")
    assert info is not None and info.carrier is None
    assert hook.lookup("13312340000") is None


@pytest.mark.parametrize(
    ("msisdn", "code"),
    [("13312341111", "lookup_http_error"), ("13312342222", "lookup_bad_body"),
     ("13312343333", "lookup_bad_body")],
)
def test_failures_are_typed(operator_url: str, msisdn: str, code: str) -> None:
    cache = DictCache()
    with pytest.raises(LookupFailed) as info:
        SubscriberLookup(operator_url, cache=cache).lookup(msisdn)
    assert info.value.code == code
    assert cache.data == {}          # failures are never cached


def test_timeout(operator_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(LookupFailed) as info:
        SubscriberLookup(operator_url, timeout=0.3).lookup("13312344444")
    assert info.value.code == "lookup_timeout"
    assert time.monotonic() - started < 1.4


def test_connection_refused() -> None:
    from tests.conftest import free_tcp_port

    with pytest.raises(LookupFailed) as info:
        SubscriberLookup(f"http://127.0.0.1:{free_tcp_port()}", timeout=1).lookup("13812345678")
    assert info.value.code == "lookup_failed"


def test_cache_positive_and_negative(operator_url: str) -> None:
    cache = DictCache()
    hook = SubscriberLookup(operator_url, cache=cache, cache_ttl=777, negative_ttl=55)
    first = hook.lookup("13812345678")
    assert hook.lookup("13812345678") == first
    assert hook.lookup("13312340000") is None
    assert hook.lookup("13312340000") is None
    assert [c[0] for c in Operator.calls] == ["13812345678", "13312340000"]   # one HTTP call each
    assert cache.data["13812345678"][1] == 777 and cache.data["13312340000"] == ("null", 55)


def test_broken_cache_does_not_break_lookup(operator_url: str) -> None:
    class Broken:
        def get(self, msisdn: str) -> str | None:
            raise RuntimeError("cache down")

        def set(self, msisdn: str, value: str, ttl: int) -> None:
            raise RuntimeError("cache down")

    info = SubscriberLookup(operator_url, cache=Broken()).lookup("13812345678")
    assert info is not None and info.carrier is Carrier.TELECOM
