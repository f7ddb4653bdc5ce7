"""SMGP submits per second through SmgpBackend (window 16) to the fake SMGW over loopback.

    python3 tests/bench/smgp.py [messages] [window]

The fake gateway runs in another process so client and server do not share one GIL (as in
production, where the SMGW is a different machine). Every submit is a real Submit PDU with an
OTP-sized UCS2 text, answered by Submit_Resp; delivery reports flow back during the run.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sms_gateway.backend import SmsMessage
from sms_gateway.smgp_backend import SmgpBackend, SmgpConfig

TEXT = "【无线城市】您的上网验证码是 123456，5分钟内有效。"


def serve(port_q: Any, stop: Any) -> None:
    from tests.fakes.smgp_gateway import FakeSmgpGateway

    with FakeSmgpGateway("10001", "s3cret", report_delay=None) as gw:
        port_q.put(gw.port)
        stop.wait()
        port_q.put((len(gw.received), gw.window_violations, gw.max_outstanding))


async def bench(port: int, n: int, window: int) -> tuple[float, int]:
    backend = SmgpBackend(SmgpConfig("ct", "127.0.0.1", port, client_id="10001", secret="s3cret",
                                     src_term_id="10690001", window=window))
    await backend.send(SmsMessage("13300000000", TEXT))  # log in before timing
    sem = asyncio.Semaphore(window * 2)  # the worker's batch: enough to keep the window full

    async def one(i: int) -> None:
        async with sem:
            await backend.send(SmsMessage(f"133{i:08d}", TEXT))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - t0
    await backend.close()
    return elapsed, n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    window = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    ctx = mp.get_context("spawn")
    q: Any = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=serve, args=(q, stop), daemon=True)
    proc.start()
    port = q.get(timeout=20)
    try:
        elapsed, sent = asyncio.run(bench(port, n, window))
    finally:
        stop.set()
        received, violations, max_out = q.get(timeout=20)
        proc.join(10)
    print(f"SMGP submits: {sent} in {elapsed:.2f} s = {sent / elapsed:,.0f}/s "
          f"(window {window}; gateway received {received}, window violations {violations}, "
          f"max outstanding {max_out})")


if __name__ == "__main__":
    main()
