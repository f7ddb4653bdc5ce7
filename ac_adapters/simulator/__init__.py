"""A simulated AC: portal-protocol server, RADIUS client, accounting, RFC 5176, MAC-trigger.

For demos, integrators and our own tests (``citywifi ac-sim``). A library: it never imports
``portal`` or ``radius``. Start one with::

    ac = SimulatedAc(SimConfig(local_users={"13800138000": "123456"})).start()
    ... point a portal client at 127.0.0.1:ac.port ...
    ac.stop()
"""

from __future__ import annotations

from ac_adapters.simulator.core import SimulatedAc
from ac_adapters.simulator.sim_accounting import AcctStatus, OnlineUser, TerminateCause
from ac_adapters.simulator.sim_config import SimConfig
from ac_adapters.simulator.sim_handlers import HANDLED_REQUESTS
from ac_adapters.simulator.sim_redirect import build_redirect_url
from ac_adapters.simulator.state import UserState

__all__ = [
    "HANDLED_REQUESTS",
    "AcctStatus",
    "OnlineUser",
    "SimConfig",
    "SimulatedAc",
    "TerminateCause",
    "UserState",
    "build_redirect_url",
]
