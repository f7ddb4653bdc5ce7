"""A backend that writes each message as a JSON file into an outbox directory.

For the demo (`citywifi up` without a gateway) and tests: the "phone" is the directory.
Each file is written atomically (temp file + rename) so readers never see half a message, and
privately (0600): the text holds the code.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from sms_gateway.backend import DeliveryReport, SendResult, SmsBackend, SmsMessage
from sms_gateway.errors import GatewayTransientError

__all__ = ["FileBackend"]


class FileBackend(SmsBackend):
    def __init__(self, name: str, outbox: str | os.PathLike[str], *, report: bool = True) -> None:
        super().__init__(name)
        self.outbox = Path(outbox)
        self.report = report

    async def send(self, message: SmsMessage) -> SendResult:
        msg_id = uuid.uuid4().hex
        record = {"id": msg_id, "phone": message.phone, "text": message.text,
                  "request_id": message.request_id, "at": time.time()}
        try:
            # Private: the messages carry codes (0700 directory, 0600 files, whatever the umask).
            self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.outbox / f".{msg_id}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False))
            tmp.rename(self.outbox / f"{int(record['at'] * 1000)}-{msg_id}.json")  # type: ignore[operator]
        except OSError as exc:
            raise GatewayTransientError(f"{self.name}: cannot write outbox: {exc}",
                                        code="outbox_unwritable") from exc
        if self.report:
            self._emit_report(DeliveryReport(self.name, msg_id, "DELIVRD", "000", message.phone))
        return SendResult(self.name, msg_id, (msg_id,), 1)

    async def close(self) -> None:
        return None

    def messages(self) -> list[dict[str, object]]:
        """Every message in the outbox, oldest first (for tests and the demo console)."""
        if not self.outbox.is_dir():
            return []
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.outbox.glob("*.json"))]
