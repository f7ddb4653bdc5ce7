"""What a hotspot gateway (CoovaChilli, MikroTik) does on the RADIUS side, for the fakes.

Clients are known by their source address (tests give each phone its own 127.0.0.x). The NAS
sends real Access-Requests (Message-Authenticator, NAS-IP-Address, NAS-Identifier,
Calling-Station-Id, Framed-IP-Address, Acct-Session-Id) and accounting from ``nas_ip``; it answers
RFC 5176 requests on ``coa_port``: authenticator checked, the session matched on User-Name /
Acct-Session-Id / Framed-IP-Address / Calling-Station-Id; a Disconnect-Request → ACK +
Accounting-Stop, a CoA-Request → ACK and its limits applied (``accept`` updated); no match →
NAK 503. :meth:`HotspotNas.interim` books usage (Interim-Update) as the gateway's meter would.
Subclasses serve the gateway's HTTP side (``_handle``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from pyrad.packet import (
    AccessAccept,
    AcctPacket,
    AuthPacket,
    CoAACK,
    CoANAK,
    CoAPacket,
    CoARequest,
    DisconnectACK,
    DisconnectNAK,
)

from radius.dictionary import load_dictionary

__all__ = ["HotspotClient", "HotspotNas"]

# What a hotspot applies from an Access-Accept; Class is echoed in accounting.
_ACCEPT_NAMES = ("Session-Timeout", "Idle-Timeout", "Acct-Interim-Interval", "Class",
                 "ChilliSpot-Bandwidth-Max-Up", "ChilliSpot-Bandwidth-Max-Down",
                 "ChilliSpot-Max-Total-Octets", "WISPr-Bandwidth-Max-Up", "WISPr-Bandwidth-Max-Down",
                 "Mikrotik-Rate-Limit")


@dataclass
class HotspotClient:
    ip: str
    mac: str
    challenge: str = ""          # hex; "" = none outstanding (spent)
    chap_id: int = 0
    session_id: str = ""
    username: str = ""
    authenticated: bool = False
    accept: dict[str, Any] = field(default_factory=dict)


class HotspotNas:
    mac_format = "{}"            # how Calling-Station-Id spells the MAC (upper-case, this separator)
    mac_separator = "-"

    def __init__(self, *, radius_secret: str, auth_port: int, acct_port: int, nasid: str,
                 nas_ip: str = "127.0.0.2", radius_host: str = "127.0.0.1", coa: bool = True) -> None:
        self.radius_secret = radius_secret.encode()
        self.nasid, self.nas_ip = nasid, nas_ip
        self.radius = ((radius_host, auth_port), (radius_host, acct_port))
        self.dictionary = load_dictionary()
        self.clients: dict[str, HotspotClient] = {}
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
        self.http_ip, self.http_port = str(self.http.server_address[0]), int(self.http.server_address[1])
        self._threads = [threading.Thread(target=self.http.serve_forever, daemon=True)]
        self.coa_sock: socket.socket | None = None
        if coa:
            self.coa_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.coa_sock.bind((nas_ip, 0))
            self.coa_sock.settimeout(0.1)
            self._threads.append(threading.Thread(target=self._dm_loop, daemon=True))
        self._stop = threading.Event()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    @property
    def coa_port(self) -> int:
        assert self.coa_sock is not None
        return int(self.coa_sock.getsockname()[1])

    def start(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.http.server_close()
        if self.coa_sock is not None:
            self.coa_sock.close()

    def add_client(self, ip: str, mac: str) -> HotspotClient:
        with self._lock:
            self.clients[ip] = HotspotClient(ip, mac)
            return self.clients[ip]

    def calling_station(self, client: HotspotClient) -> str:
        return client.mac.upper().replace(":", self.mac_separator)

    # --- RADIUS ---------------------------------------------------------------------------------

    def radius_login(self, client: HotspotClient, username: str, fill: Any) -> Any:
        """An Access-Request for ``client`` (``fill`` adds the password attributes); the reply,
        or None without one. On Accept the session starts (Accounting-Start)."""
        pkt = AuthPacket(secret=self.radius_secret, dict=self.dictionary)
        pkt["User-Name"] = username
        fill(pkt)
        client.session_id = f"{len(self.requests) + 1:08x}{abs(hash(client.ip)) % 10**8:08d}"
        self._common(pkt, client)
        pkt.add_message_authenticator()
        self.requests.append(pkt)
        reply = self._send(pkt, self.radius[0])
        if reply is not None and reply.code == AccessAccept:
            client.accept = {name: reply[name] for name in _ACCEPT_NAMES if reply.has_key(name)}
            client.username, client.authenticated = username, True
            self.account(client, "Start")
        return reply

    @staticmethod
    def reply_message(reply: Any) -> str:
        if reply is None:
            return "no RADIUS answer"
        return "".join(reply.get("Reply-Message", []) or []) or "rejected"

    def _common(self, pkt: Any, client: HotspotClient) -> None:
        pkt["NAS-IP-Address"] = self.nas_ip
        pkt["NAS-Identifier"] = self.nasid
        pkt["Calling-Station-Id"] = self.calling_station(client)
        pkt["Called-Station-Id"] = "02-00-00-00-00-01"
        pkt["Framed-IP-Address"] = client.ip
        pkt["Acct-Session-Id"] = client.session_id
        pkt["NAS-Port-Type"] = "Wireless-802.11"

    def account(self, client: HotspotClient, status: str) -> None:
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

    def interim(self, client: HotspotClient, input_octets: int, output_octets: int, seconds: int) -> None:
        """An Interim-Update with the session's totals so far."""
        pkt = AcctPacket(secret=self.radius_secret, dict=self.dictionary)
        pkt["Acct-Status-Type"] = "Interim-Update"
        pkt["User-Name"] = client.username
        self._common(pkt, client)
        for cls in client.accept.get("Class", []):
            pkt.AddAttribute("Class", cls)
        pkt["Acct-Input-Octets"], pkt["Acct-Output-Octets"] = input_octets, output_octets
        pkt["Acct-Session-Time"] = seconds
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

    # --- HTTP -----------------------------------------------------------------------------------

    @staticmethod
    def redirect(h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, text: str, ctype: str = "text/plain") -> None:
        body = text.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
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
            answer = pkt.CreateReply()
            coa = pkt.code == CoARequest
            if client is None:
                answer.code = CoANAK if coa else DisconnectNAK
                answer["Error-Cause"] = 503
            elif coa:
                answer.code = CoAACK
                client.accept.update({n: pkt[n] for n in _ACCEPT_NAMES if n != "Class" and pkt.has_key(n)})
            else:
                answer.code = DisconnectACK
                self.account(client, "Stop")
                client.authenticated = False
            self.coa_sock.sendto(answer.ReplyPacket(), addr)

    def _match(self, pkt: CoAPacket) -> HotspotClient | None:
        for client in self.clients.values():
            if not client.authenticated:
                continue
            held = {"User-Name": client.username, "Acct-Session-Id": client.session_id,
                    "Framed-IP-Address": client.ip, "Calling-Station-Id": self.calling_station(client)}
            if all(pkt[name][0] == value for name, value in held.items() if name in pkt):
                return client
        return None
