"""What the web path signs and serialises stays byte-for-byte what it was when it was built on
``hmac.digest`` and ``dataclasses.asdict`` (both replaced by cheaper equivalents for the login
path's CPU, docs/benchmarks.md): context tokens minted by a worker of the previous release must
still open in the next one during a rolling restart, and the real-name stream and the SMS queue
keep their records' exact fields."""

from __future__ import annotations

import base64
import dataclasses
import hmac
import json
import threading

import pytest

from portal.legal.reallog import LoginRecord
from portal.phone.login_context import PhoneContexts
from portal.phone.login_types import LoginError, PhoneContext, Signer
from portal.phone.sms_queue import SmsJob
from portal.runtime.settings import WebSettings

KEY = b"s" * 32


def _reference_token(key: bytes, purpose: str, data: dict[str, object], expires: float) -> str:
    """A signed token as the previous code built it: base64(JSON) "." base64(HMAC-SHA256[:18])."""
    body = dict(data, _p=purpose, _e=expires)
    raw = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=")
    mac = hmac.digest(key, raw, "sha256")[:18]
    return f"{raw.decode()}.{base64.urlsafe_b64encode(mac).decode()}"


def test_signed_tokens_are_the_reference_bytes_both_ways() -> None:
    signer = Signer(KEY, clock=lambda: 1000.0)
    data = {"ac": "ac-1", "user_ip": "10.0.0.7", "n": 3}
    assert signer.sign("ctx", data, 60) == _reference_token(KEY, "ctx", data, 1060.0)
    assert signer.verify("ctx", _reference_token(KEY, "ctx", data, 1060.0)) == data
    # The key matters: a token of another key, or one whose body was changed, does not verify.
    with pytest.raises(LoginError):
        signer.verify("ctx", _reference_token(b"t" * 32, "ctx", data, 1060.0))
    mac = signer.sign("ctx", data, 60).partition(".")[2]
    other = _reference_token(KEY, "ctx", dict(data, n=4), 1060.0).partition(".")[0]
    with pytest.raises(LoginError):
        signer.verify("ctx", f"{other}.{mac}")
    with pytest.raises(LoginError):
        signer.verify("code", signer.sign("ctx", data, 60))


def test_one_signer_signs_correctly_from_many_threads() -> None:
    # Each token copies one keyed HMAC shared by the worker's request threads.
    signer = Signer(KEY, clock=lambda: 1000.0)
    wrong: list[str] = []

    def run(n: int) -> None:
        for i in range(300):
            data = {"thread": n, "i": i}
            if signer.sign("ctx", data, 60) != _reference_token(KEY, "ctx", data, 1060.0):
                wrong.append(f"{n}/{i}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_context_token_carries_every_field_as_asdict_did() -> None:
    contexts = PhoneContexts()
    contexts.signer = Signer(KEY, clock=lambda: 1000.0)
    contexts.web = WebSettings()
    ctx = PhoneContext(ac="ac-1", user_ip="10.0.0.7", mac="02:00:00:00:00:07", ssid="City", ap="ap-9",
                       venue="v1", first_url="http://example.com/", vouched="vendor",
                       phone_proof="p" * 32, gateway='{"hid":"h"}')
    token = contexts.sign_context(ctx)
    assert token == _reference_token(KEY, "ctx", dataclasses.asdict(ctx), 1000.0 + contexts.web.context_ttl)
    assert contexts.open_context(token) == ctx


def test_login_record_and_sms_job_serialise_as_asdict_did() -> None:
    record = LoginRecord(phone="18900000001", mac="02:00:00:00:00:01", ip="10.0.0.1", ac="ac-1",
                         ap="ap\x07", ssid="City\nWiFi", venue="v1", kind="sms", plan="free",
                         at=1700000000.5, observed_ip="10.0.0.1")
    from portal.legal.logtext import escape_fields

    assert record.fields() == escape_fields(
        {k: (f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in dataclasses.asdict(record).items()})
    job = SmsJob(phone="18900000001", template="otp", params={"code": "123456"}, lang="en",
                 request_id="r1", venue="v1", ac="ac-1", ssid="City")
    assert job.to_json() == json.dumps(dataclasses.asdict(job), ensure_ascii=False, sort_keys=True)
    assert SmsJob.from_json(job.to_json()) == job
