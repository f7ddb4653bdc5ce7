"""A fake China Mobile ISMG speaking CMPP 3.0 or 2.0 (docs/protocols/sms.md §1.4).

Checks the CONNECT authenticator (status 3 on failure), answers SUBMIT with a 64-bit Msg_Id
(§1.4 bit layout), pushes status reports (DELIVER with Registered_Delivery = 1, first an
ACCEPTD the client must ignore, then DELIVRD), answers ACTIVE_TEST and TERMINATE, enforces
the window (result 8 flow control), and injects faults (see gateway_base): result 13 for
illegal numbers, result 8 for flow control.

Submit fields are checked as an ISMG does (§1.4 SUBMIT_RESP results): Msg_src must be the
logged-in SP_Id (11), Service_Id one of ``service_ids`` (7), Src_Id under ``src_prefix`` (10),
FeeType 01–05 / FeeCode ≤ 6 digits / Fee_UserType 0–3 (5), a charged number when
Fee_UserType is 3 (12), the destination form (13), Registered_Delivery 0/1 and TP_udhi
consistent with the content and Pk_total/Pk_number (1), Msg_Fmt and length (1 / 4).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from sms_gateway.errors import PduError
from sms_gateway.pdu import cmpp
from tests.fakes.gateway_base import ConnState, FakeGatewayBase, Received

__all__ = ["FakeCmppGateway"]


class FakeCmppGateway(FakeGatewayBase):
    def __init__(self, sp_id: str = "901234", secret: str = "s3cret", *, version: int = cmpp.V30,
                 report_delay: float | None = 0.05, gateway_code: int = 0x1234) -> None:
        super().__init__(report_delay=report_delay)
        self.sp_id = sp_id
        self.secret = secret
        self.version = version
        self.gateway_code = gateway_code

    def next_message_id(self) -> tuple[int, str]:
        # §1.4: month 4 bits, day 5, hour 5, minute 6, second 6, gateway 22, sequence 16.
        t = dt.datetime.now()
        value = (t.month << 60) | (t.day << 55) | (t.hour << 50) | (t.minute << 44) | (t.second << 38)
        value |= (self.gateway_code & 0x3FFFFF) << 16 | (self.next_serial() & 0xFFFF)
        return value, str(value)

    async def on_frame(self, conn: ConnState, frame: bytes) -> None:
        v = self.version
        try:
            seq, pdu = cmpp.decode(frame, v)
        except PduError:
            conn.writer.close()
            return
        if isinstance(pdu, cmpp.Connect):
            ts = f"{pdu.timestamp:010d}"
            expected = cmpp.connect_authenticator(self.sp_id, self.secret, ts)
            refused = self.auth_fail or pdu.source_addr != self.sp_id or pdu.authenticator != expected
            if refused and not self.impostor:   # an impostor cannot check, so it takes any login
                self.login_failures += 1
                self.write(conn, cmpp.encode(cmpp.ConnectResp(3, b"", v), seq, v))
                conn.writer.close()
                return
            if pdu.version != v:
                self.login_failures += 1
                self.write(conn, cmpp.encode(cmpp.ConnectResp(4, b"", v), seq, v))
                conn.writer.close()
                return
            self.logins += 1
            conn.logged_in = True
            secret = "not-the-secret" if self.impostor else self.secret
            auth = cmpp.ismg_authenticator(0, pdu.authenticator, secret, v)
            self.write(conn, cmpp.encode(cmpp.ConnectResp(0, auth, v), seq, v))
            return
        if not conn.logged_in:
            conn.writer.close()
            return
        if isinstance(pdu, cmpp.ActiveTest):
            self.active_tests += 1
            self.write(conn, cmpp.encode(cmpp.ActiveTestResp(), seq, v))
        elif isinstance(pdu, cmpp.Terminate):
            self.exits += 1
            self.write(conn, cmpp.encode(cmpp.TerminateResp(), seq, v))
            conn.writer.close()
        elif isinstance(pdu, cmpp.DeliverResp):
            with self.lock:
                self.reports_acked.append(str(pdu.msg_id))
        elif isinstance(pdu, cmpp.Submit):
            await self._submit(conn, seq, pdu)

    async def _submit(self, conn: ConnState, seq: int, pdu: cmpp.Submit) -> None:
        v = self.version
        if self.drop_on_submit > 0:
            self.drop_on_submit -= 1
            conn.writer.close()
            return
        within_window = self.count_submit(conn)
        phone = pdu.dest_terminal_ids[0]
        msg_id, msg_str = self.next_message_id()
        if not within_window or self.flow_control:
            result = cmpp.Result.FLOW_CONTROL
        elif phone in self.illegal_numbers or not all(self.dest_ok(d) for d in pdu.dest_terminal_ids):
            result = cmpp.Result.DEST_TERMINAL
        else:
            result = self._check_fields(pdu)
        reports = b""
        if result == 0:
            with self.lock:
                self.received.append(Received(phone, pdu.content, pdu.msg_fmt, msg_str,
                                              bool(pdu.tp_udhi), conn.conn_id, pdu))
            if pdu.registered_delivery:
                stamp = dt.datetime.now().strftime("%y%m%d%H%M")
                final = self.report_stats.get(phone.removeprefix("86"), "DELIVRD")
                for stat in ("ACCEPTD", final):
                    content = cmpp.encode_report(cmpp.Report(msg_id, stat, stamp, stamp, phone), v)
                    reports += cmpp.encode(cmpp.Deliver(
                        self.next_message_id()[0], pdu.src_id, pdu.service_id, 0, phone, 1, content),
                        self.next_seq(conn), v)
        resp = cmpp.encode(cmpp.SubmitResp(msg_id, result), seq, v)
        await asyncio.shield(self.answer_submit(conn, resp, reports or None))

    def _check_fields(self, pdu: cmpp.Submit) -> int:
        """The §1.4 Result a real ISMG gives a Submit whose fields are wrong (0 = fine)."""
        r = cmpp.Result
        fee_code = pdu.fee_code
        checks: list[tuple[bool, str, int]] = [
            (pdu.msg_src == self.sp_id, "Msg_src", r.MSG_SRC),
            (self.service_ids is None or pdu.service_id in self.service_ids, "Service_Id",
             r.SERVICE_CODE),
            (pdu.src_id.startswith(self.src_prefix) and pdu.src_id.isdigit(), "Src_Id", r.SRC_ID),
            (pdu.fee_type in ("01", "02", "03", "04", "05"), "FeeType", r.FEE),
            (0 < len(fee_code) <= 6 and fee_code.isdigit(), "FeeCode", r.FEE),
            (pdu.fee_user_type in (0, 1, 2, 3), "Fee_UserType", r.FEE),
            (pdu.fee_user_type != 3 or (pdu.fee_terminal_id.isdigit() and self.dest_ok(pdu.fee_terminal_id)),
             "Fee_terminal_Id", r.FEE_TERMINAL),
            (pdu.registered_delivery in (0, 1), "Registered_Delivery", r.STRUCTURE),
            (pdu.tp_udhi in (0, 1) and self.udh_ok(pdu.content, bool(pdu.tp_udhi), pdu.pk_total,
                                                   pdu.pk_number), "TP_udhi", r.STRUCTURE),
            (pdu.msg_fmt in (0, 3, 4, 8, 15), "Msg_Fmt", r.STRUCTURE),
            (len(pdu.content) < 160 if pdu.msg_fmt == 0 else len(pdu.content) <= 140, "Msg_Length",
             r.LENGTH),
            (pdu.msg_fmt != 8 or len(pdu.content) % 2 == 0, "Msg_Content", r.LENGTH),
        ]
        for ok, name, code in checks:
            if not ok:
                return self.refuse(name, code)
        return r.OK
