"""A local HTTP server standing in for Alibaba Cloud SendSms, Tencent Cloud SendSms and a
generic SMS HTTP API. It recomputes each request's signature from the spec rules (docs/protocols/sms.md §2.1,
§2.2) with its own code — it deliberately does not import the backend's signer — and answers
like the cloud does (error codes included). Never a real cloud call in tests.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit


def _aliyun_expected(query: list[tuple[str, str]], secret: str) -> str:
    params = sorted((k, v) for k, v in query if k != "Signature")

    def enc(s: str) -> str:  # RFC 3986: unreserved kept, everything else %XX (space → %20)
        return "".join(ch if (ch.isalnum() and ch.isascii()) or ch in "-_.~" else
                       "".join(f"%{b:02X}" for b in ch.encode()) for ch in s)

    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in params)
    sts = "GET&" + enc("/") + "&" + enc(canonical)
    return base64.b64encode(hmac.new(f"{secret}&".encode(), sts.encode(), "sha1").digest()).decode()


def _tc3_expected(headers: Any, body: bytes, secret_id: str, secret_key: str) -> str:
    ts = int(headers["X-TC-Timestamp"])
    date = dt.datetime.fromtimestamp(ts, dt.UTC).date().isoformat()
    creq = "\n".join(["POST", "/", "", f"content-type:{headers['Content-Type']}",
                      f"host:{headers['Host']}", "", "content-type;host",
                      hashlib.sha256(body).hexdigest()])
    scope = date + "/sms/tc3_request"
    sts = "\n".join(["TC3-HMAC-SHA256", str(ts), scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = hmac.new(b"TC3" + secret_key.encode(), date.encode(), "sha256").digest()
    k = hmac.new(k, b"sms", "sha256").digest()
    k = hmac.new(k, b"tc3_request", "sha256").digest()
    sig = hmac.new(k, sts.encode(), "sha256").hexdigest()
    return (f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
            f"Signature={sig}")


class FakeSmsHttp:
    """``with FakeSmsHttp(key, secret) as api:`` → ``api.url``; ``api.received`` lists accepted
    requests; ``api.bad_signatures`` counts refused ones; ``api.codes[phone] = "isv.…"``
    makes the next request for that phone fail with that cloud error code."""

    def __init__(self, access_key: str = "AKID", secret: str = "s3cret") -> None:
        self.access_key = access_key
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.codes: dict[str, str] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # Aliyun RPC style
                query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
                params = dict(query)
                if (params.get("AccessKeyId") != fake.access_key
                        or params.get("Signature") != _aliyun_expected(query, fake.secret)):
                    fake.bad_signatures += 1
                    self._reply(400, {"Code": "SignatureDoesNotMatch", "Message": "bad signature"})
                    return
                phone = params["PhoneNumbers"]
                code = fake.codes.pop(phone, "OK")
                if code == "OK":
                    with fake.lock:
                        fake.received.append({"kind": "aliyun", "phone": phone, **params})
                self._reply(200, {"Code": code, "Message": code, "BizId": f"biz{len(fake.received)}",
                                  "RequestId": "r"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("X-TC-Action"):
                    self._tencent(body)
                else:
                    self._generic(body)

            def _tencent(self, body: bytes) -> None:
                if self.headers.get("Authorization") != _tc3_expected(self.headers, body, fake.access_key,
                                                                      fake.secret):
                    fake.bad_signatures += 1
                    self._reply(200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure"}}})
                    return
                data = json.loads(body)
                phone = data["PhoneNumberSet"][0].removeprefix("+86")
                code = fake.codes.pop(phone, "Ok")
                if code == "Ok":
                    with fake.lock:
                        fake.received.append({"kind": "tencent", "phone": phone, **data})
                self._reply(200, {"Response": {"SendStatusSet": [{
                    "SerialNo": f"sn{len(fake.received)}", "PhoneNumber": "+86" + phone,
                    "Code": code, "Message": code}], "RequestId": "r"}})

            def _generic(self, body: bytes) -> None:
                data = json.loads(body)
                code = fake.codes.pop(data.get("to", ""), "0")
                if code == "0":
                    with fake.lock:
                        fake.received.append({"kind": "http", **data})
                self._reply(200, {"result": code, "msgid": f"g{len(fake.received)}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSmsHttp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


__all__ = ["FakeSmsHttp", "quote"]
