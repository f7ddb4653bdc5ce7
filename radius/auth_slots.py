"""Device slots on the RADIUS fast path (``radius.auth``), in the batch's one round trip when
the outcome can be foreseen.

An Access-Accept on a plan with ``max_sessions`` reserves a device slot atomically
(``portal.aaa.device_slots``). The reservation can only follow the decision, and the decision
follows the batch's reads: done in that order it costs every batch a second Redis round trip,
and on a busy box each trip waits for two processes to be scheduled (docs/benchmarks.md).

Most Access-Requests come from a device that was accepted a moment ago on the same plan (the AC
re-authorising, a roaming phone, a retry). For such a device, remembered per (phone, MAC) by
its last Accept, the reservation is sent *early*: ``EARLY_RESERVE_LUA`` rides in the same
pipeline as the reads, after them. The decision then uses it exactly as it would have used a
reservation made afterwards:

* the decision is an Accept on a plan with the same ``max_sessions``: the early reply stands
  ("ok": the Accept's Class names the early login nonce; "full": too many devices, as before);
* anything else (a refusal, a spent token, another limit, an error reply): the early
  reservation is taken back (``UNDO_RESERVE_LUA`` restores the field as it was, only while it
  still holds the early login) and, when the Accept still needs a slot, the ordinary
  reservation follows in the second trip. The device is then no longer expected.

Reservations are atomic either way; an early one only runs at the reads' moment instead of a
round trip later. One difference remains, on failure only: when Redis fails later in the batch
(the server then answers none of it), an early reservation is not taken back; it names the
device's own MAC and lapses after ``quota.slot_hold``, and the AC's retry reuses it. A device
without a MAC is never reserved early (its field is per login).
All keys of each script are in the phone's ``{p:<phone>}`` slot, as everywhere else.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import redis

from portal.aaa.device_slots import EARLY_RESERVE_LUA, RESERVE_LUA, UNDO_RESERVE_LUA
from portal.state import keys
from radius.auth_replies import too_many_devices
from radius.batch_reads import PhoneReads, reserve_command_head
from radius.resp import RespClient, bulk

__all__ = ["DeviceSlots", "Early"]

log = logging.getLogger(__name__)

class Early:
    """One early reservation: the limit it assumed, its login nonce, Redis's reply."""

    __slots__ = ("max_sessions", "nonce", "reply", "used")

    def __init__(self, max_sessions: int, nonce: bytes) -> None:
        self.max_sessions = max_sessions
        self.nonce = nonce
        self.reply: Any = None
        self.used = False   # the decision took it (then it is never undone)

    def fits(self, max_sessions: int) -> bool:
        """Whether a decision needing a slot of ``max_sessions`` can take this reservation."""
        return self.max_sessions == max_sessions and isinstance(self.reply, list)

    def full(self) -> bool:
        return bool(self.reply[0] == b"full")


class DeviceSlots:
    """Early and ordinary reservations of one worker's fast path (one per ``AuthPolicy``). Which
    devices are expected is kept on their ``PhoneReads`` (``expect``: bounded with that memo)."""

    def __init__(self, fast: RespClient, hold: float, grace: float) -> None:
        self.fast = fast
        self.reserve_sha = fast.script(RESERVE_LUA)
        self.early_sha = fast.script(EARLY_RESERVE_LUA)
        self.undo_sha = fast.script(UNDO_RESERVE_LUA)
        self._tail = bulk((f"{hold:.3f}", f"{grace:.3f}"))   # hold and grace, encoded once
        self._reserve_head = reserve_command_head(self.reserve_sha)
        self._early_head = reserve_command_head(self.early_sha)

    # --- the first round trip -----------------------------------------------------------------

    def early(self, devices: Sequence[PhoneReads], now_bulk: bytes) -> tuple[bytes, list[Early | None], int]:
        """The EVALSHAs to append to the batch's reads for the expected devices among
        ``devices`` (one per request), each request's ``Early`` (or None), and their count."""
        out: list[Early | None] = []
        parts: list[bytes] = []
        for reads in devices:
            limit = reads.expect
            if not limit:
                out.append(None)
                continue
            early = Early(limit, random.getrandbits(32).to_bytes(4, "big"))
            login = early.nonce.hex().encode()
            parts.append(reads.reserve(self._early_head, limit, now_bulk, self._tail, login))
            out.append(early)
        return b"".join(parts), out, len(parts)

    @staticmethod
    def hand_out(early: list[Early | None], replies: list[Any]) -> None:
        """Attach the early EVALSHAs' replies (in order) to their ``Early``s."""
        it = iter(replies)
        for item in early:
            if item is not None:
                item.reply = next(it)

    # --- after the decisions ------------------------------------------------------------------

    @staticmethod
    def expect(forget: Sequence[PhoneReads], took: Sequence[tuple[PhoneReads, int]]) -> None:
        """After a batch: devices whose early reservation went unused are no longer expected;
        devices accepted on a plan of ``max_sessions`` that took a slot are (in that order, so a
        device that went the ordinary way this time is expected with its new limit). A device
        without a MAC never is (its reservation's field is per login)."""
        for reads in forget:
            reads.expect = 0
        for reads, max_sessions in took:
            if reads.mac:
                reads.expect = max_sessions

    def ordinary(self, reads: PhoneReads, max_sessions: int, nonce: bytes, now_bulk: bytes) -> bytes:
        """The second trip's RESERVE_LUA EVALSHA for an Accept that was not reserved early."""
        return reads.reserve(self._reserve_head, max_sessions, now_bulk, self._tail, nonce.hex().encode())

    def finish(self, reserves: list[tuple[int, bytes]], results: list[Any],
               unused: Sequence[tuple[PhoneReads, Early]]) -> None:
        """Run the ordinary reservations (``(result index, EVALSHA)``; a full plan turns the
        Accept into too-many-devices, an error reply takes its place) and take back the early
        reservations no decision used."""
        if any(isinstance(item.reply, redis.ResponseError) and str(item.reply).startswith("NOSCRIPT")
               for _, item in unused):   # Redis restarted or flushed its scripts
            self.fast.pipeline([("SCRIPT", "LOAD", EARLY_RESERVE_LUA)])
        if reserves:
            replies = self.fast.evalsha_many([payload for _, payload in reserves], self.reserve_sha)
            for (index, _), reply in zip(reserves, replies, strict=True):
                if isinstance(reply, Exception):
                    results[index] = reply
                elif reply[0] == b"full":
                    results[index] = too_many_devices()
        undo = [self._undo(reads, item) for reads, item in unused
                if isinstance(item.reply, list) and not item.full()]
        if undo:
            # Best effort: an undo that fails leaves a reservation that lapses after slot_hold.
            for reply in self.fast.evalsha_many(undo, self.undo_sha):
                if isinstance(reply, Exception):
                    log.warning("could not take back an early device-slot reservation: %s", reply)

    def _undo(self, reads: PhoneReads, item: Early) -> bytes:
        before = item.reply[1] if len(item.reply) > 1 else b""
        return b"*7\r\n" + bulk(("EVALSHA", self.undo_sha, 1, keys.device_slots(reads.phone), reads.mac or "",
                                 item.nonce.hex(), before))
