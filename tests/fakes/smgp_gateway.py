"""A fake China Telecom SMGW speaking SMGP 3.0 (docs/protocols/sms.md §1.3, §1.8 recommendation).

Checks the MD5 login authenticator, answers Submit with a BCD MsgID, pushes IsReport
Delivers, answers Active_Test and Exit, enforces the window, injects faults (see
:mod:`tests.fakes.gateway_base`). Status codes: 21 auth error, 47 bad DestTermID, 75 daily
volume exceeded (used as the flow-control refusal).
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
            if self.auth_fail or pdu.client_id != self.client_id or pdu.authenticator != expected:
                self.login_failures += 1
                self.write(conn, smgp.encode(smgp.LoginResp(21, b"", 0x30), seq))
                conn.writer.close()
                return
            self.logins += 1
            conn.logged_in = True
            auth = smgp.server_authenticator(0, pdu.authenticator, self.secret)
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
        if not within_window or self.flow_control:
            status = 75
        elif phone in self.illegal_numbers or not phone.isdigit():
            status = 47
        else:
            status = 0
        report = None
        if status == 0:
            udhi = any(t.tag == smgp.TlvTag.TP_UDHI and t.value == b"\x01" for t in pdu.tlvs)
            with self.lock:
                self.received.append(Received(phone, pdu.content, pdu.msg_format, msg_hex, udhi,
                                              conn.conn_id))
            if pdu.need_report:
                stamp = dt.datetime.now().strftime("%y%m%d%H%M")
                content = smgp.encode_report(smgp.Report(msg_id, "DELIVRD", "000", stamp, stamp))
                report = smgp.encode(smgp.Deliver(
                    self.next_message_id()[0], 1, 0, dt.datetime.now().strftime("%Y%m%d%H%M%S"),
                    phone, pdu.src_term_id, content), self.next_seq(conn))
        resp = smgp.encode(smgp.SubmitResp(msg_id, status), seq)
        await asyncio.shield(self.answer_submit(conn, resp, report))
