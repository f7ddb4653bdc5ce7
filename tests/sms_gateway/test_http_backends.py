"""HTTP backends against a local server that recomputes the signatures independently."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from sms_gateway.backend import SmsMessage
from sms_gateway.errors import GatewayPermanentError, GatewayTransientError
from sms_gateway.http_backends import (
    AliyunBackend,
    GenericHttpBackend,
    HttpConfig,
    TencentBackend,
    aliyun_sign,
    percent_encode,
)
from tests.fakes.sms_http import FakeSmsHttp

MSG = SmsMessage("13300000001", "【无线城市】您的上网验证码是 123456，5分钟内有效。", "req-1",
                 "otp", (("code", "123456"),))


@pytest.fixture
def api() -> Iterator[FakeSmsHttp]:
    with FakeSmsHttp("AKID", "s3cret") as server:
        yield server


def cloud(kind: str, api: FakeSmsHttp, secret: str = "s3cret") -> HttpConfig:
    tpl = "SMS_1" if kind == "aliyun" else "1001:code,minutes"
    return HttpConfig(kind, url=api.url, access_key="AKID", secret=secret, sign_name="无线城市",
                      app_id="1400000000", templates={"otp": tpl}, timeout=3.0)


def test_percent_encoding_rules() -> None:
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"


def test_aliyun_signature_is_deterministic_given_inputs() -> None:
    params = {"AccessKeyId": "testid", "Action": "SendSms", "SignatureNonce": "n", "Timestamp": "t"}
    canonical, sig = aliyun_sign(params, "testsecret")
    assert canonical == "AccessKeyId=testid&Action=SendSms&SignatureNonce=n&Timestamp=t"
    assert sig == aliyun_sign(dict(reversed(params.items())), "testsecret")[1]
    assert sig != aliyun_sign(params, "other")[1]


def test_aliyun_send_signed_and_accepted(api: FakeSmsHttp) -> None:
    result = asyncio.run(AliyunBackend(cloud("aliyun", api)).send(MSG))
    assert result.message_id == "biz1" and api.bad_signatures == 0
    (got,) = api.received
    assert got["TemplateCode"] == "SMS_1" and got["TemplateParam"] == '{"code": "123456"}'
    assert got["SignName"] == "无线城市" and got["OutId"] == "req-1"


def test_aliyun_wrong_secret_is_refused_by_the_verifier(api: FakeSmsHttp) -> None:
    with pytest.raises(GatewayTransientError) as err:
        asyncio.run(AliyunBackend(cloud("aliyun", api, secret="bad")).send(MSG))
    assert err.value.code == "SignatureDoesNotMatch" and api.bad_signatures == 1


def test_aliyun_error_classes(api: FakeSmsHttp) -> None:
    backend = AliyunBackend(cloud("aliyun", api))
    api.codes[MSG.phone] = "isv.MOBILE_NUMBER_ILLEGAL"
    with pytest.raises(GatewayPermanentError) as perm:
        asyncio.run(backend.send(MSG))
    assert perm.value.message_zh and perm.value.message_en
    api.codes[MSG.phone] = "isv.AMOUNT_NOT_ENOUGH"
    with pytest.raises(GatewayTransientError):
        asyncio.run(backend.send(MSG))


def test_tencent_tc3_signed_and_accepted(api: FakeSmsHttp) -> None:
    now = dt.datetime(2026, 3, 1, 23, 59, 30, tzinfo=dt.UTC)
    result = asyncio.run(TencentBackend(cloud("tencent", api), now=lambda: now).send(MSG))
    assert result.message_id == "sn1" and api.bad_signatures == 0
    (got,) = api.received
    assert got["PhoneNumberSet"] == ["+8613300000001"] and got["TemplateId"] == "1001"
    assert got["TemplateParamSet"] == ["123456", "5"] and got["SessionContext"] == "req-1"


def test_tencent_wrong_key_and_error_codes(api: FakeSmsHttp) -> None:
    with pytest.raises(GatewayTransientError) as err:
        asyncio.run(TencentBackend(cloud("tencent", api, secret="bad")).send(MSG))
    assert err.value.code == "AuthFailure.SignatureFailure"
    backend = TencentBackend(cloud("tencent", api))
    api.codes[MSG.phone] = "LimitExceeded.PhoneNumberThirtySecondLimit"
    with pytest.raises(GatewayPermanentError) as perm:
        asyncio.run(backend.send(MSG))
    assert "频繁" in perm.value.message_zh


def test_generic_http_template(api: FakeSmsHttp) -> None:
    body = '{{"to": "{phone}", "msg": "{text}", "id": "{request_id}"}}'
    cfg = HttpConfig("gen", url=api.url, body_template=body,
                     success_field="result", success_value="0", message_id_field="msgid")
    backend = GenericHttpBackend(cfg)
    quoted = SmsMessage("13300000002", 'say "hi"\n', "r2")
    result = asyncio.run(backend.send(quoted))
    assert result.message_id == "g1"
    assert api.received[0]["msg"] == 'say "hi"\n' and api.received[0]["to"] == "13300000002"
    api.codes["13300000002"] = "17"
    with pytest.raises(GatewayTransientError):
        asyncio.run(backend.send(quoted))


def test_unreachable_endpoint_is_transient() -> None:
    from tests.conftest import free_tcp_port

    cfg = HttpConfig("gen", url=f"http://127.0.0.1:{free_tcp_port()}/", body_template="{{}}")
    with pytest.raises(GatewayTransientError) as err:
        asyncio.run(GenericHttpBackend(cfg).send(MSG))
    assert err.value.code == "http_unreachable"
