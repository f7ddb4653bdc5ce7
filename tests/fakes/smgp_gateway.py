"""A fake China Telecom SMGW speaking SMGP 3.0 (docs/protocols/sms.md §1.3, §1.8 recommendation).

Checks the MD5 login authenticator, answers Submit with a BCD MsgID, pushes IsReport
Delivers, answers Active_Test and Exit, enforces the window, injects faults (see
:mod:`tests.fakes.gateway_base`). Status codes: 21 auth error, 47 bad DestTermID, 75 daily
volume exceeded (used as the flow-control refusal).

LoginMode (§1.3): 0 send, 1 receive, 2 both. A Submit on a receive-only login is refused
(11, command word error); status reports go to a login that receives (1 or 2). Submit fields
are checked with the §1.3 status codes: MsgType 6 (30), Priority 0–3 (31), FeeType 00–03
(32), FeeCode (33), MsgFormat (34), MsgLength ≤ 140 (36), FixedFee (40), ServiceID in
``service_ids`` (43), SrcTermID under ``src_prefix`` (46), DestTermID form (47), ChargeTermID
(48), MsgSrc TLV = ``msg_src`` when set (49), NeedReport 0/1 and TP_udhi consistent with the
content and the PkTotal/PkNumber TLVs (10).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sms_gateway.errors import PduError
from sms_gateway.pdu import smgp
from tests.fakes.gateway_base import ConnState, FakeGatewayBase, Received

__all__ = ["FakeSmgpGateway"]


class FakeSmgpGateway(FakeGatewayBase):
    def __init__(self, client_id: str = "10001", secret: str = "s3cret", *,
                 report_delay: float | None = 0.05, area: str = "0755") -> None:
        super().__init__(report_delay=report_delay)
        self.client_id = client_id
        self.secret = secret
        self.area = area
        self.msg_src = ""          # MsgSrc TLV every Submit must carry; "" = not checked
        self.login_modes: dict[int, int] = {}     # connection id → LoginMode

    def next_message_id(self) -> tuple[bytes, str]:
        # §1.3: SMGW code (area + "06" + index, 3 bytes BCD) + MMDDHHMM + 6-digit serial.
        now = dt.datetime.now()
        gw_code = (self.area[-3:] + "061")[:6]
        digits = gw_code + now.strftime("%m%d%H%M") + f"{self.next_serial() % 1000000:06d}"
        raw = bytes.fromhex(digits)
        return raw, raw.hex()

    async def on_frame(self, conn: ConnState, frame: bytes) -> None:
        try:
            seq, pdu = smgp.decode(frame)
        except PduError:
            conn.writer.close()
            return
        if isinstance(pdu, smgp.Login):
            ts = f"{pdu.timestamp:010d}"
            expected = smgp.client_authenticator(self.client_id, self.secret, ts)
            refused = self.auth_fail or pdu.client_id != self.client_id or pdu.authenticator != expected
            if refused and not self.impostor:   # an impostor cannot check, so it takes any login
                self.login_failures += 1
                self.write(conn, smgp.encode(smgp.LoginResp(21, b"", 0x30), seq))
                conn.writer.close()
                return
            if pdu.login_mode not in (0, 1, 2):
                self.login_failures += 1
                self.write(conn, smgp.encode(smgp.LoginResp(10, b"", 0x30), seq))
                conn.writer.close()
                return
            self.logins += 1
            self.login_modes[conn.conn_id] = pdu.login_mode
            conn.logged_in = True
            conn.extra["mode"] = pdu.login_mode
            secret = "not-the-secret" if self.impostor else self.secret
            auth = smgp.server_authenticator(0, pdu.authenticator, secret)
            self.write(conn, smgp.encode(smgp.LoginResp(0, auth, 0x30), seq))
            return
        if not conn.logged_in:
            conn.writer.close()
            return
        if isinstance(pdu, smgp.ActiveTest):
            self.active_tests += 1
            self.write(conn, smgp.encode(smgp.ActiveTestResp(), seq))
        elif isinstance(pdu, smgp.Exit):
            self.exits += 1
            self.write(conn, smgp.encode(smgp.ExitResp(), seq))
            conn.writer.close()
        elif isinstance(pdu, smgp.DeliverResp):
            with self.lock:
                self.reports_acked.append(pdu.msg_id.hex())
        elif isinstance(pdu, smgp.Submit):
            await self._submit(conn, seq, pdu)

    async def _submit(self, conn: ConnState, seq: int, pdu: smgp.Submit) -> None:
        if self.drop_on_submit > 0:
            self.drop_on_submit -= 1
            conn.writer.close()
            return
        within_window = self.count_submit(conn)
        phone = pdu.dest_term_ids[0]
        msg_id, msg_hex = self.next_message_id()
        if conn.extra.get("mode") == 1:
            status = self.refuse("LoginMode", 11)
        elif not within_window or self.flow_control:
            status = 75
        elif phone in self.illegal_numbers or not all(self.dest_ok(d) for d in pdu.dest_term_ids):
            status = 47
        else:
            status = self._check_fields(pdu)
        report = None
        if status == 0:
            udhi = any(t.tag == smgp.TlvTag.TP_UDHI and t.value == b"\x01" for t in pdu.tlvs)
            with self.lock:
                self.received.append(Received(phone, pdu.content, pdu.msg_format, msg_hex, udhi,
                                              conn.conn_id, pdu))
            if pdu.need_report:
                stamp = dt.datetime.now().strftime("%y%m%d%H%M")
                stat, err = self.report_stats.get(phone.removeprefix("86"), ("DELIVRD", "000"))
                content = smgp.encode_report(smgp.Report(msg_id, stat, err, stamp, stamp))
                report = smgp.encode(smgp.Deliver(
                    self.next_message_id()[0], 1, 0, dt.datetime.now().strftime("%Y%m%d%H%M%S"),
                    phone, pdu.src_term_id, content), self.next_seq(conn))
        resp = smgp.encode(smgp.SubmitResp(msg_id, status), seq)
        await asyncio.shield(self.answer_submit(conn, resp, report))

    def report_target(self, conn: ConnState) -> ConnState | None:
        if conn.extra.get("mode") == 2:
            return conn
        receivers = [c for c in self._conns.values() if c.logged_in and c.extra.get("mode") in (1, 2)]
        return receivers[-1] if receivers else None

    def _check_fields(self, pdu: smgp.Submit) -> int:
        """The §1.3 Status a real SMGW gives a Submit whose fields are wrong (0 = fine)."""
        tlv = {t.tag: t.value for t in pdu.tlvs}
        udhi = tlv.get(smgp.TlvTag.TP_UDHI, b"\x00") == b"\x01"
        total = tlv.get(smgp.TlvTag.PK_TOTAL, b"\x01")[0]
        number = tlv.get(smgp.TlvTag.PK_NUMBER, b"\x01")[0]
        msg_src = tlv.get(smgp.TlvTag.MSG_SRC, b"").rstrip(b"\0").decode("ascii", "replace")
        checks: list[tuple[bool, str, int]] = [
            (pdu.msg_type == 6, "MsgType", 30),
            (pdu.priority in (0, 1, 2, 3), "Priority", 31),
            (pdu.fee_type in ("00", "01", "02", "03"), "FeeType", 32),
            (len(pdu.fee_code) == 6 and pdu.fee_code.isdigit(), "FeeCode", 33),
            (pdu.msg_format in (0, 3, 4, 8, 15, 246), "MsgFormat", 34),
            (0 < len(pdu.content) <= 140 and (pdu.msg_format != 8 or len(pdu.content) % 2 == 0),
             "MsgLength", 36),
            (len(pdu.fixed_fee) == 6 and pdu.fixed_fee.isdigit(), "FixedFee", 40),
            (self.service_ids is None or pdu.service_id in self.service_ids, "ServiceID", 43),
            (pdu.src_term_id.startswith(self.src_prefix) and pdu.src_term_id.isdigit(), "SrcTermID", 46),
            (pdu.charge_term_id == "" or self.dest_ok(pdu.charge_term_id), "ChargeTermID", 48),
            (not self.msg_src or msg_src == self.msg_src, "MsgSrc", 49),
            (pdu.need_report in (0, 1), "NeedReport", 10),
            (self.udh_ok(pdu.content, udhi, total, number), "TP_udhi", 10),
        ]
        for ok, name, code in checks:
            if not ok:
                return self.refuse(name, code)
        return 0
