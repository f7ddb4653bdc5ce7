"""An EAG-style AC sends every NTF_LOGOUT with SerialNo 0 and ReqID 0 (spec §1.6),
so kick → re-login → kick of one phone within the retransmission window gives byte-identical
datagrams. Both kicks must end their login; a real retransmission must still be handled once.
Real Redis, the real RADIUS server, the AC simulator and the listener on loopback UDP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.aaa.ntf_replay import held_key
from portal.state import keys
from tests.e2e.stack import AC_NAME, running_stack, wait_for
from tests.portal.phone.test_login import first_login


def test_kick_relogin_kick_within_the_window_ends_both_logins(
    redis_client: Any, redis_url: str, data_dir: Path
) -> None:
    with running_stack(redis_client, redis_url, data_dir, sim={"ntf_zero_ids": True}) as stack:
        sent: list[bytes] = []
        send = stack.ac._ntf._send

        def recording_send(raw: bytes) -> None:     # what the simulated AC puts on the wire
            sent.append(raw)
            send(raw)

        stack.ac._ntf._send = recording_send
        ctx, _ = first_login(stack, 41)
        login = keys.portal_login(AC_NAME, ctx.user_ip)
        assert redis_client.exists(login)
        assert stack.ac.kick(ctx.user_ip)
        assert wait_for(lambda: not redis_client.exists(login))
        # The phone comes straight back (its MAC is bound) and is kicked again at once.
        assert stack.journey.silent_login(AC_NAME, ctx.mac, ctx.user_ip)
        assert redis_client.exists(login)
        assert stack.ac.kick(ctx.user_ip)
        assert wait_for(lambda: stack.ac.stats["ntf_logout_acked"] == 2)
        assert wait_for(lambda: not redis_client.exists(login)), "the second kick was taken for a resend"
        assert len(sent) == 2 and sent[0] == sent[1], "the simulator must send identical NTF_LOGOUTs"
        # The second NTF repeats the first's bytes for a newer login: it is acted upon when the
        # accounting Stop corroborates it — at once if the Stop came first, else when it comes
        # (portal.aaa.ntf_replay); either way the login is gone (asserted above).
        handled = stack.listener.stats["handled.ntf_logout"]
        assert handled + stack.listener.stats.get("suspected_replays", 0) == 2, stack.listener.stats
        assert stack.listener.stats["repeated_events"] == 1
        assert not redis_client.exists(held_key(AC_NAME, ctx.user_ip))

        # A genuine retransmission of the second kick (our answer was lost, say) is answered
        # again but not handled: nothing has logged in since.
        stack.ac._send_to_portal(sent[1])
        assert wait_for(lambda: stack.listener.stats.get("duplicates", 0) == 1)
        assert stack.listener.stats["handled.ntf_logout"] == handled
