"""A loopback CoovaChilli, written from its documentation (UAM redirect, md, logon, RADIUS, DM).

What it does like the real daemon (``chilli.conf(5)``, ``doc/hotspotlogin.cgi``):

* a client is known by its source address (tests give each phone its own 127.0.0.x); any
  request of an unauthenticated client is answered 302 to ``uamserver?res=notyet&uamip&uamport
  &challenge&called&mac&ip&nasid&sessionid&userurl&md`` with a fresh 16-byte challenge, ``md`` =
  upper-hex MD5 of the URL before ``&md=`` + uamsecret;
* ``/logon?username&password|response&userurl`` decodes the password with the client's CURRENT
  challenge (PAP: XOR with MD5(challenge ‖ uamsecret); CHAP: passes CHAP-Challenge =
  MD5(challenge ‖ uamsecret)), spends that challenge, and sends a real Access-Request
  (Message-Authenticator, NAS-IP-Address, NAS-Identifier, Calling-Station-Id, Framed-IP-Address)
  from ``nas_ip`` to the RADIUS server. Accept → Accounting-Start (Class echoed) and 302
  ``res=success``; Reject or no answer → a new challenge and 302 ``res=failed&reply=…``;
* ``/logoff`` → Accounting-Stop and 302 ``res=logoff``; ``/prelogin`` → a fresh ``notyet``;
* RFC 5176 Disconnect-Request on ``coa_port``: authenticator checked, the session matched on
  User-Name / Acct-Session-Id / Framed-IP-Address / Calling-Station-Id → ACK + Accounting-Stop,
  else NAK 503.

Faults: ``md_secret`` signs redirects with another secret (a misconfigured or forged gateway).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pyrad.packet import AccessAccept, AcctPacket, AuthPacket, CoAPacket, DisconnectACK, DisconnectNAK

from ac_adapters.gateways.chilli import chilli_quote, redirect_md
from radius.dictionary import load_dictionary

__all__ = ["ChilliClient", "FakeChilli"]

# What a Chilli applies from an Access-Accept (chilli-radius(5)); Class is echoed in accounting.
_ACCEPT_NAMES = ("Session-Timeout", "Idle-Timeout", "Acct-Interim-Interval", "Class",
                 "ChilliSpot-Bandwidth-Max-Up", "ChilliSpot-Bandwidth-Max-Down",
                 "ChilliSpot-Max-Total-Octets", "WISPr-Bandwidth-Max-Up", "WISPr-Bandwidth-Max-Down")


@dataclass
class ChilliClient:
    ip: str
    mac: str
    challenge: str = ""
    session_id: str = ""
    username: str = ""
    authenticated: bool = False
    accept: dict[str, Any] = field(default_factory=dict)


class FakeChilli:
    def __init__(self, *, uamsecret: str, radius_secret: str, uamserver: str, auth_port: int,
                 acct_port: int, nasid: str, nas_ip: str = "127.0.0.2", radius_host: str = "127.0.0.1",
                 md_secret: str | None = None, coa: bool = True) -> None:
        self.uamsecret, self.md_secret = uamsecret, md_secret if md_secret is not None else uamsecret
        self.radius_secret = radius_secret.encode()
        self.uamserver, self.nasid, self.nas_ip = uamserver, nasid, nas_ip
        self.radius = ((radius_host, auth_port), (radius_host, acct_port))
        self.dictionary = load_dictionary()
        self.clients: dict[str, ChilliClient] = {}
        self.requests: list[AuthPacket] = []
        self.accounting: list[AcctPacket] = []
        self.disconnects: list[CoAPacket] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uamip, self.uamport = self.http.server_address[0], self.http.server_address[1]
        self._threads = [threading.Thread(target=self.http.serve_forever, daemon=True)]
        self.coa_sock: socket.socket | None = None
        if coa:
            self.coa_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.coa_sock.bind((nas_ip, 0))
            self.coa_sock.settimeout(0.1)
            self._threads.append(threading.Thread(target=self._dm_loop, daemon=True))
        self._stop = threading.Event()

    @property
    def coa_port(self) -> int:
        assert self.coa_sock is not None
        return int(self.coa_sock.getsockname()[1])

    def start(self) -> FakeChilli:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        if self.coa_sock is not None:
            self.coa_sock.close()

    def add_client(self, ip: str, mac: str) -> ChilliClient:
        with self._lock:
            self.clients[ip] = ChilliClient(ip, mac)
            return self.clients[ip]

    # --- UAM --------------------------------------------------------------------------------

    def redirect_url(self, client: ChilliClient, res: str, userurl: str = "", reply: str = "") -> str:
        items = [("res", res), ("uamip", self.uamip), ("uamport", str(self.uamport))]
        if res in ("notyet", "failed"):
            client.challenge = os.urandom(16).hex()
            items.append(("challenge", client.challenge))
        items += [("called", "02-00-00-00-00-01"), ("mac", client.mac.upper().replace(":", "-")),
                  ("ip", client.ip)]
        if reply:
            items.append(("reply", reply))
        session = client.session_id or f"{int(time.time()):08x}00000001"
        items += [("nasid", self.nasid), ("sessionid", session)]
        if userurl:
            items.append(("userurl", userurl))
        text = self.uamserver + "?" + "&".join(f"{n}={chilli_quote(v)}" for n, v in items)
        return f"{text}&md={redirect_md(text, self.md_secret)}"

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        query = dict(parse_qsl(url.query))
        client = self.clients.get(h.client_address[0])
        if client is None:
            self._reply(h, 403, "unknown client (no DHCP lease)")
        elif url.path == "/logon":
            self._redirect(h, self._logon(client, query))
        elif url.path == "/logoff":
            self._account(client, "Stop")
            client.authenticated = False
            self._redirect(h, self.redirect_url(client, "logoff"))
        elif url.path == "/prelogin" or not client.authenticated:
            target = "" if url.path == "/prelogin" else f"http://{h.headers.get('Host', 'x')}{h.path}"
            self._redirect(h, self.redirect_url(client, "notyet", target))
        else:
            self._reply(h, 200, "behind the gateway: the internet")

    def _logon(self, client: ChilliClient, query: dict[str, str]) -> str:
        userurl = query.get("userurl", "")
        if client.authenticated:
            return self.redirect_url(client, "already", userurl)
        challenge, client.challenge = client.challenge, ""     # one logon per challenge
        if not challenge:
            return self.redirect_url(client, "failed", userurl, "no challenge")
        newchal = hashlib.md5(bytes.fromhex(challenge) + self.uamsecret.encode()).digest()
        pkt = AuthPacket(secret=self.radius_secret, dict=self.dictionary)
        pkt["User-Name"] = query.get("username", "")
        if "response" in query:
            pkt["CHAP-Challenge"] = newchal
            pkt["CHAP-Password"] = b"\x00" + bytes.fromhex(query["response"])
        else:
            enc = bytes.fromhex(query.get("password", ""))
            plain = bytes(b ^ newchal[i % 16] for i, b in enumerate(enc))
            pkt["User-Password"] = pkt.PwCrypt(plain.decode("latin-1"))
        client.session_id = os.urandom(8).hex()
        self._common(pkt, client)
        pkt.add_message_authenticator()
        self.requests.append(pkt)
        reply = self._send(pkt, self.radius[0])
        if reply is None or reply.code != AccessAccept:
            text = "" if reply is None else "".join(reply.get("Reply-Message", []) or [])
            return self.redirect_url(client, "failed", userurl, text or "no RADIUS answer")
        client.accept = {name: reply[name] for name in _ACCEPT_NAMES if reply.has_key(name)}
        client.username, client.authenticated = query.get("username", ""), True
        self._account(client, "Start")
        return self.redirect_url(client, "success", userurl)

    def _common(self, pkt: Any, client: ChilliClient) -> None:
        pkt["NAS-IP-Address"] = self.nas_ip
        pkt["NAS-Identifier"] = self.nasid
        pkt["Calling-Station-Id"] = client.mac.upper().replace(":", "-")
        pkt["Called-Station-Id"] = "02-00-00-00-00-01"
        pkt["Framed-IP-Address"] = client.ip
        pkt["Acct-Session-Id"] = client.session_id
        pkt["NAS-Port-Type"] = "Wireless-802.11"

    def _account(self, client: ChilliClient, status: str) -> None:
        pkt = AcctPacket(secret=self.radius_secret, dict=self.dictionary)
        pkt["Acct-Status-Type"] = status
        pkt["User-Name"] = client.username
        self._common(pkt, client)
        for cls in client.accept.get("Class", []):
            pkt.AddAttribute("Class", cls)
        if status == "Stop":
            pkt["Acct-Session-Time"] = 5
            pkt["Acct-Terminate-Cause"] = "User-Request"
        self.accounting.append(pkt)
        self._send(pkt, self.radius[1])

    def _send(self, pkt: Any, dest: tuple[str, int]) -> Any:
        raw = pkt.RequestPacket()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.nas_ip, 0))
            sock.settimeout(1.0)
            for _ in range(3):
                sock.sendto(raw, dest)
                with contextlib.suppress(TimeoutError, socket.timeout):
                    data, _addr = sock.recvfrom(4096)
                    reply = pkt.CreateReply(packet=data)
                    if pkt.VerifyReply(reply, data):
                        return reply
        return None

    @staticmethod
    def _redirect(h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, text: str) -> None:
        body = text.encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    # --- RFC 5176 ------------------------------------------------------------------------------

    def _dm_loop(self) -> None:
        assert self.coa_sock is not None
        while not self._stop.is_set():
            try:
                data, addr = self.coa_sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                pkt = CoAPacket(packet=data, secret=self.radius_secret, dict=self.dictionary)
            except Exception:
                continue
            if not pkt.VerifyCoARequest():
                continue
            self.disconnects.append(pkt)
            client = self._match(pkt)
            reply = pkt.CreateReply()
            if client is None:
                reply.code = DisconnectNAK
                reply["Error-Cause"] = 503
            else:
                reply.code = DisconnectACK
                self._account(client, "Stop")
                client.authenticated = False
            self.coa_sock.sendto(reply.ReplyPacket(), addr)

    def _match(self, pkt: CoAPacket) -> ChilliClient | None:
        for client in self.clients.values():
            if not client.authenticated:
                continue
            held = {"User-Name": client.username, "Acct-Session-Id": client.session_id,
                    "Framed-IP-Address": client.ip,
                    "Calling-Station-Id": client.mac.upper().replace(":", "-")}
            if all(pkt[name][0] == value for name, value in held.items() if name in pkt):
                return client
        return None
