"""Keys of records promised but maybe not yet written (log streams in other hash slots)."""

from __future__ import annotations

from portal.state.keys import PREFIX

__all__ = ["session_logout_pending"]


def session_logout_pending(phone: str, ac: str, session_id: str) -> str:
    """String (TTL = the tombstone's): a session closed whose log records (accounting-log stop
    entry, real-name logout) are not yet known to be written. Set in the same script that closes
    the session and deleted after those records were written: those streams live in other hash
    slots, so a repeat of the close (a retransmitted Stop, a resent gateway event, the reaper's
    next pass) that finds it writes them. Value ``<lease until>|<payload>`` (radius/acct_script.py,
    portal/aaa/sessions.py)."""
    return f"{PREFIX}:{{p:{phone}}}:lp:{ac}|{session_id}"
