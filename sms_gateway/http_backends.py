"""HTTP SMS backends: a generic configurable one, Alibaba Cloud SendSms (RPC signature V1,
HMAC-SHA1) and Tencent Cloud SendSms (TC3-HMAC-SHA256) — docs/protocols/sms.md §2.1, §2.2.

The transport is injectable (``transport(method, url, headers, body, timeout) -> (status,
body)``); the default runs urllib in a thread. Clock and nonce are injectable too, so the
signers are pure functions of their inputs. A timeout after the request was sent is
"uncertain" (SendSms is not idempotent, §2.1), never retried.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sms_gateway.backend import SendResult, SmsBackend, SmsMessage
from sms_gateway.errors import (
    GatewayPermanentError,
    GatewayTransientError,
    GatewayUncertainError,
)
from sms_gateway.texts import ERRORS

__all__ = [
    "AliyunBackend",
    "GenericHttpBackend",
    "HttpConfig",
    "TencentBackend",
    "Transport",
    "aliyun_sign",
    "percent_encode",
    "tc3_authorization",
]

Transport = Callable[[str, str, Mapping[str, str], bytes, float], tuple[int, bytes]]

ALIYUN_URL = "https://dysmsapi.aliyuncs.com/"
TENCENT_URL = "https://sms.tencentcloudapi.com/"

_RATE_ZH, _RATE_EN = ERRORS["rate_limited"]
_BAD_ZH, _BAD_EN = ERRORS["bad_number"]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    name: str
    url: str = ""
    method: str = "POST"
    body_template: str = ""
    content_type: str = "application/json"
    success_field: str = ""
    success_value: str = ""
    message_id_field: str = ""
    access_key: str = ""
    secret: str = ""
    region: str = ""
    app_id: str = ""
    sign_name: str = ""
    # template name → cloud template code; tencent: "ID:param1,param2" gives the param order.
    templates: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0


def urllib_transport(method: str, url: str, headers: Mapping[str, str], body: bytes,
                     timeout: float) -> tuple[int, bytes]:
    """Blocking HTTP call; connection failures → transient, timeouts → uncertain."""
    req = urllib.request.Request(url, data=body if method != "GET" else None, method=method,
                                 headers=dict(headers))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except TimeoutError as exc:
        raise GatewayUncertainError(f"HTTP timeout: {exc}", code="http_timeout") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise GatewayUncertainError(f"HTTP timeout: {exc}", code="http_timeout") from exc
        raise GatewayTransientError(f"HTTP connection failed: {exc.reason}", code="http_unreachable") from exc


class _HttpBackend(SmsBackend):
    def __init__(self, cfg: HttpConfig, *, transport: Transport = urllib_transport,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 nonce: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        super().__init__(cfg.name)
        self.cfg = cfg
        self._transport = transport
        self._now = now
        self._nonce = nonce

    async def _call(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        status, raw = await asyncio.to_thread(self._transport, method, url, headers, body, self.cfg.timeout)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return status, data

    def _template(self, message: SmsMessage) -> str:
        tpl = self.cfg.templates.get(message.template or "otp", "")
        if not tpl:
            raise GatewayTransientError(f"{self.name}: no template code configured", code="http_config")
        return tpl

    async def close(self) -> None:
        return None


# --- generic ---------------------------------------------------------------------------------


class GenericHttpBackend(_HttpBackend):
    """POSTs (or GETs) ``body_template`` with ``{phone}``, ``{text}``, ``{request_id}``."""

    async def send(self, message: SmsMessage) -> SendResult:
        values = {"phone": message.phone, "text": message.text, "request_id": message.request_id}
        method = self.cfg.method.upper()
        if method == "GET":
            enc = {k: urllib.parse.quote(v, safe="") for k, v in values.items()}
            url, body = self.cfg.url.format_map(enc), b""
        else:
            esc = values if "json" not in self.cfg.content_type else {
                k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in values.items()}
            url, body = self.cfg.url, self.cfg.body_template.format_map(esc).encode()
        status, data = await self._call(method, url, {"Content-Type": self.cfg.content_type}, body)
        if not 200 <= status < 300:
            raise GatewayTransientError(f"{self.name}: HTTP {status}", code=f"http_{status}")
        if self.cfg.success_field and str(_dig(data, self.cfg.success_field)) != self.cfg.success_value:
            raise GatewayTransientError(f"{self.name}: refused: {data!r:.200}", code="http_refused")
        msg_id = str(_dig(data, self.cfg.message_id_field) or "") if self.cfg.message_id_field else ""
        msg_id = msg_id or message.request_id or self._nonce()
        return SendResult(self.name, msg_id, (msg_id,), 1)


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


# --- Alibaba Cloud (§2.1) --------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 as Aliyun wants it: space → %20, * → %2A, ~ kept (§2.1)."""
    return urllib.parse.quote(value, safe="~")


def aliyun_sign(params: Mapping[str, str], secret: str, method: str = "GET") -> tuple[str, str]:
    """(canonical query string, Signature) for RPC signature V1 (§2.1)."""
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return canonical, base64.b64encode(digest).decode()


_ALIYUN_PERMANENT = {
    "isv.MOBILE_NUMBER_ILLEGAL": (_BAD_ZH, _BAD_EN),
    "isv.BUSINESS_LIMIT_CONTROL": (_RATE_ZH, _RATE_EN),   # per-number limits: failing over would dodge them
    "isv.BLACK_KEY_CONTROL_LIMIT": ERRORS["content_refused"],
}


class AliyunBackend(_HttpBackend):
    async def send(self, message: SmsMessage) -> SendResult:
        params = {
            "AccessKeyId": self.cfg.access_key, "Action": "SendSms", "Format": "JSON",
            "RegionId": self.cfg.region or "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(), "SignatureVersion": "1.0",
            "Timestamp": self._now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25", "PhoneNumbers": message.phone, "SignName": self.cfg.sign_name,
            "TemplateCode": self._template(message),
            "TemplateParam": json.dumps(_otp_params(message), ensure_ascii=False),
            "OutId": message.request_id,
        }
        canonical, signature = aliyun_sign(params, self.cfg.secret)
        url = f"{self.cfg.url or ALIYUN_URL}?Signature={percent_encode(signature)}&{canonical}"
        _, data = await self._call("GET", url, {}, b"")
        code = str(data.get("Code", ""))
        if code == "OK":
            biz = str(data.get("BizId", ""))
            return SendResult(self.name, biz, (biz,), 1)
        if code in _ALIYUN_PERMANENT:
            zh, en = _ALIYUN_PERMANENT[code]
            raise GatewayPermanentError(f"{self.name}: {code}", code=code, message_zh=zh, message_en=en)
        raise GatewayTransientError(f"{self.name}: {code or 'no Code'}: {data.get('Message', '')}",
                                    code=code or "aliyun_error")


def _otp_params(message: SmsMessage) -> dict[str, str]:
    # The cloud's approved template holds the text; only the parameters travel.
    return dict(message.params)


# --- Tencent Cloud (§2.2) --------------------------------------------------------------------


def tc3_authorization(secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int,
                      content_type: str = "application/json; charset=utf-8",
                      service: str = "sms") -> str:
    """The ``Authorization`` header value for TC3-HMAC-SHA256 (§2.2)."""
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    canonical = (f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
                 + hashlib.sha256(body).hexdigest())
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={sig}"


def _tencent_permanent(code: str) -> tuple[str, str] | None:
    if code in ("InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist"):
        return _BAD_ZH, _BAD_EN
    if code.startswith("LimitExceeded.PhoneNumber"):
        return _RATE_ZH, _RATE_EN
    return None


class TencentBackend(_HttpBackend):
    async def send(self, message: SmsMessage) -> SendResult:
        template_id, _, order = self._template(message).partition(":")
        params = _otp_params(message)
        names = [n for n in order.split(",") if n] or ["code"]
        body = json.dumps({
            "PhoneNumberSet": ["+86" + message.phone], "SmsSdkAppId": self.cfg.app_id,
            "SignName": self.cfg.sign_name, "TemplateId": template_id,
            "TemplateParamSet": [params.get(n, "5" if n == "minutes" else "") for n in names],
            "SessionContext": message.request_id,
        }, ensure_ascii=False).encode()
        url = self.cfg.url or TENCENT_URL
        host = urllib.parse.urlsplit(url).netloc
        ts = int(self._now().timestamp())
        ctype = "application/json; charset=utf-8"
        headers = {
            "Content-Type": ctype, "Host": host, "X-TC-Action": "SendSms",
            "X-TC-Version": "2021-01-11", "X-TC-Timestamp": str(ts),
            "X-TC-Region": self.cfg.region or "ap-guangzhou",
            "Authorization": tc3_authorization(self.cfg.access_key, self.cfg.secret, host, body, ts, ctype),
        }
        _, data = await self._call("POST", url, headers, body)
        resp = data.get("Response", {}) if isinstance(data, dict) else {}
        if "Error" in resp:
            code = str(resp["Error"].get("Code", "tencent_error"))
            raise GatewayTransientError(f"{self.name}: {code}", code=code)
        statuses = resp.get("SendStatusSet") or [{}]
        st = statuses[0]
        code = str(st.get("Code", ""))
        if code == "Ok":
            serial = str(st.get("SerialNo", ""))
            return SendResult(self.name, serial, (serial,), 1)
        perm = _tencent_permanent(code)
        if perm:
            raise GatewayPermanentError(f"{self.name}: {code}", code=code, message_zh=perm[0],
                                        message_en=perm[1])
        raise GatewayTransientError(f"{self.name}: {code or 'no Code'}", code=code or "tencent_error")

