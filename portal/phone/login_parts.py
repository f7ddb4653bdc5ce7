"""What the phone journey works with, built in one place.

:class:`portal.phone.login.PhoneJourney` holds the use cases; the stores, services and the clock it
calls are a :class:`JourneyParts`, made by :func:`journey_parts` from the settings and one Redis
client. The web process builds them once (``portal/web/wiring.py``), the Portal-protocol
listener once (``portal/commands/ac_listener.py``, through ``portal.phone.login.build_journey``); tests
pass the parts they replace (``clock=``, ``sms=``) or ``dataclasses.replace`` the set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.aaa.acs import AcRegistry
from portal.aaa.authorizer import Authorizer
from portal.aaa.credentials import CredentialStore
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.legal.reallog import RealNameLog
from portal.noc.ac_outcomes import AcOutcomes
from portal.noc.livestats import LiveStats
from portal.phone.login_types import Signer
from portal.phone.otp import OtpService
from portal.phone.sms_queue import SmsQueue
from portal.runtime.settings import Settings
from portal.venues.campaign_store import CampaignStore
from portal.venues.venue_store import VenueStore

__all__ = ["JourneyParts", "journey_parts"]


@dataclass(frozen=True, slots=True)
class JourneyParts:
    otp: OtpService                 # codes: limits, HMAC in Redis, number policy, blocklist
    signer: Signer                  # signs contexts, tickets and device cookies (web.secret_key)
    sms: SmsQueue                   # the stream citywifi sms-worker sends from
    acs: AcRegistry
    venues: VenueStore
    campaigns: CampaignStore
    credentials: CredentialStore    # single-use RADIUS tokens, MAC bindings
    authorizer: Authorizer          # the grant decision (its PlanStore is the journey's plans)
    usage: UsageBook
    sessions: SessionRegistry
    livestats: LiveStats            # NOC dashboard figures
    ac_outcomes: AcOutcomes         # per-AC login outcomes (NOC AC page)
    reallog: RealNameLog            # the real-name record every login needs
    clock: Callable[[], float]


def journey_parts(settings: Settings, redis: Any, *, otp: OtpService, signer: Signer,
                  sms: SmsQueue | None = None,
                  clock: Callable[[], float] = time.time) -> JourneyParts:
    """The journey's collaborators from ``settings`` and ``redis`` (``clock``: the time every
    part that stamps or expires things reads; tests pass a clock they can move)."""
    quota = settings.quota
    return JourneyParts(
        otp=otp,
        signer=signer,
        sms=sms or SmsQueue(redis, ttl=settings.sms.job_ttl),
        acs=AcRegistry(redis),
        venues=VenueStore(redis),
        campaigns=CampaignStore(redis, timezone=quota.timezone, clock=clock, content=settings.content),
        credentials=CredentialStore(redis),
        authorizer=Authorizer(redis, quota, reaper_grace=settings.radius.reaper_grace),
        usage=UsageBook(redis, quota.timezone),
        sessions=SessionRegistry(redis, grace=settings.radius.reaper_grace),
        livestats=LiveStats.from_settings(redis, settings, clock),
        ac_outcomes=AcOutcomes(redis, clock=clock),
        reallog=RealNameLog(redis, wait_replicas=quota.acct_wait_replicas,
                            wait_timeout_ms=quota.acct_wait_timeout_ms),
        clock=clock,
    )
