"""The phone user's journey as use cases, free of any web framework (the web layer calls them).

    AC redirect → context → [returning? ad ticket → auto login] | code → login on the AC

* :meth:`PhoneJourney.context` parses the AC's redirect (any vendor) and resolves the venue;
  the web layer signs the resulting :class:`PhoneContext` into the page (``sign_context``) so
  later form posts cannot change the AC, IP or MAC. The redirect is only a claim:
  :meth:`device_check` says how the web layer must check it (``portal.phone.device_guard``; the
  context half lives in :mod:`portal.phone.login_context`).
* :meth:`request_code` issues an SMS code (``OtpService``, capped also per observed source
  address) and queues the SMS (``SmsQueue``). The phone asked for is remembered per device, so
  a closed and reopened login window resumes with the code field shown — the number itself
  only masked, and only to the browser that proved it.
* :meth:`login_with_code`: code verified exactly once → plan and quota checked (``Authorizer``)
  → single-use RADIUS token minted → login on the AC (CHAP by default, per profile) → MAC bound for the
  plan's binding period → real-name record written → the portal's view of the login stored.
  No one stays online without a real-name record (the retention law): when the record
  cannot be written after the AC accepted the login, the portal logs the user out on the AC
  again (REQ_LOGOUT, same client and endpoint), counts ``login.realname_failed`` and answers
  ``state_unavailable``. After any failure past the code, one retry from the same device and
  page with the same code is allowed (a single-use ticket, ``portal.phone.otp_retry``).
* Returning phones: :meth:`landing` offers an ad with a signed single-use ticket; the server
  refuses to redeem it before the countdown has really elapsed (:meth:`redeem_ad`, in
  :mod:`portal.phone.login_ads`).
* :meth:`silent_login` is the MAC-trigger path; :meth:`logout`, :meth:`close` and
  :meth:`status` manage and show the login.

Every failure is a :class:`LoginError` with a stable ``code``; ``portal/web/errors.py`` maps
codes to the user's message. The value types and :class:`Signer` live in :mod:`portal.phone.login_types`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import Any

from ac_adapters.client import AcEndpoint, LoginResult, PortalClient
from ac_adapters.profiles import PROFILES
from portal.aaa.acs import AcRecord
from portal.aaa.blocklist import normalise_mac
from portal.aaa.credentials import DEVICE_MISMATCH_MESSAGE, Credential
from portal.aaa.grants import Grant, QuotaRefusal
from portal.aaa.plans import Plan
from portal.legal.reallog import LoginRecord
from portal.phone.gateway_login import claim_redirect, gateway_logout, handoff, no_portal_login
from portal.phone.login_ads import ReturningPhones
from portal.phone.login_context import PhoneContexts
from portal.phone.login_parts import JourneyParts, journey_parts
from portal.phone.login_types import (
    AdOffer,
    CodeSent,
    Landing,
    LoginError,
    LoginSuccess,
    PhoneContext,
    Signer,
    StatusView,
    plan_title,
)
from portal.phone.login_types import mask_phone as _mask
from portal.phone.otp import OtpRefused, OtpRejected, OtpService
from portal.phone.sms_queue import SmsJob
from portal.runtime.metrics_http import ProcessCounters
from portal.runtime.settings import Settings
from portal.state import STATE_ERRORS, keys
from portal.state.scripts import execute_scripted, queue_evalsha
from portal.venues.venue_store import Venue, allowed_redirect

# The value types live in portal.phone.login_types and the ad-page flow in portal.phone.login_ads; both are
# re-exported here so ``from portal.phone.login import …`` keeps working everywhere.
__all__ = [
    "AdOffer", "CodeSent", "Landing", "LoginError", "LoginSuccess", "PhoneContext", "PhoneJourney",
    "ReturningPhones", "Signer", "StatusView", "build_journey", "endpoint_for",
    "web_secret",
]

log = logging.getLogger("citywifi.login")

_START_GRACE = 30.0   # seconds a fresh login counts as online before accounting has reported it


def endpoint_for(record: AcRecord, settings: Settings) -> AcEndpoint:
    """How the portal client reaches an AC (settings give the defaults for timeout/retries)."""
    return AcEndpoint(
        host=record.addresses[0], port=record.port, profile=PROFILES[record.vendor],
        secret=record.secret.encode(), bas_ip=record.effective_bas_ip,
        timeout=record.timeout or settings.portal_client.timeout,
        retries=record.retries or settings.portal_client.retries,
    )


class PhoneJourney(PhoneContexts, ReturningPhones):
    """The use cases. Build once per process (after fork); thread-safe."""

    def __init__(self, redis: Any, settings: Settings, parts: JourneyParts, *,
                 client_factory: Callable[[], PortalClient] | None = None) -> None:
        """``parts``: the stores and services it calls, made by :func:`portal.phone.login_parts.
        journey_parts` (or :func:`build_journey`, which makes the OTP service and signer too)."""
        self.redis = redis
        self.settings = settings
        self.web = settings.web
        self.parts = parts
        self.otp, self.signer, self.sms, self.clock = parts.otp, parts.signer, parts.sms, parts.clock
        self.acs, self.venues, self.campaigns = parts.acs, parts.venues, parts.campaigns
        self.credentials, self.authorizer = parts.credentials, parts.authorizer
        self.plans = parts.authorizer.plans
        self.usage, self.sessions = parts.usage, parts.sessions
        self.livestats, self.ac_outcomes = parts.livestats, parts.ac_outcomes
        self.reallog = parts.reallog
        # In-process: these events happen when Redis fails, so they cannot be counted there.
        self.counters = ProcessCounters()
        self._client_factory = client_factory or (
            lambda: PortalClient(source_host=settings.portal_client.source_host))
        self._client: PortalClient | None = None
        self._client_pid = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, self.web.max_ac_logins))
        self._ac_cache: dict[str, tuple[float, AcRecord | None]] = {}

    # --- landing -------------------------------------------------------------------------------

    def landing(self, ctx: PhoneContext, lang: str = "zh") -> Landing:
        """Ad offer for a returning phone, else the login form (resumed if a code is pending).

        A redirect only CLAIMS a device, so the page never shows a number from the state: only
        the number this browser itself proved for this device (``ctx.proven_phone``), and that
        masked."""
        # The two independent reads — the MAC's binding and the device's pending number — go
        # out in one round trip: a new phone needs both, a returning one wastes only the GET.
        pipe = self.redis.pipeline(transaction=False)
        if ctx.mac:
            pipe.hgetall(keys.mac_binding(normalise_mac(ctx.mac)))
        pipe.get(keys.device_pending_phone(ctx.device))
        *found, raw = pipe.execute()
        if ctx.mac:
            binding = self.credentials.binding_from_reply(ctx.mac, found[0])
            if binding is not None:
                phone = binding[0]
                try:
                    self._grant(phone, ctx)
                except LoginError as refusal:
                    return Landing(phone=self._shown(ctx, phone), refusal=refusal)
                return Landing(ad=self._offer_ad(ctx, phone, lang))
        if raw is not None:
            phone = raw.decode()
            pending = self.otp.pending(phone, ctx.mac, ctx.user_ip)
            if pending is not None:
                return Landing(phone=self._shown(ctx, phone), code_pending=True,
                               resend_in=max(0, int(pending.resend_after - self.clock())))
        return Landing()

    # --- SMS code ------------------------------------------------------------------------------

    def request_code(self, ctx: PhoneContext, phone: str, lang: str = "zh", *,
                     observed: str = "") -> CodeSent:
        """Issue and queue a code. ``observed``: the request's peer address (after trusted
        proxies), counted against the SMS caps whatever device the redirect claims."""
        try:
            issued = self.otp.request_code(phone, ctx.mac, ctx.user_ip, ctx.ac, lang=lang,
                                           source=observed)
        except OtpRefused as exc:
            raise LoginError(exc.code, retry_after=exc.retry_after, detail=str(exc)) from None
        minutes = max(1, issued.valid_for // 60)
        enqueue = self.sms.enqueue_call(SmsJob(issued.phone, "otp", {"code": issued.code,
                                                                     "minutes": str(minutes)},
                                               "en" if lang == "en" else "zh", secrets.token_hex(12),
                                               self.venue(ctx).id, ctx.ac, ctx.ssid))
        # The SMS job and the device's pending number in one round trip; a number is remembered
        # only for a code whose SMS was queued, so a failed queueing takes it back.
        pending = keys.device_pending_phone(ctx.device)
        pipe = self.redis.pipeline(transaction=False)
        queue_evalsha(pipe, *enqueue)
        pipe.set(pending, issued.phone, ex=issued.valid_for)
        try:
            execute_scripted(pipe, {0: enqueue})
        except STATE_ERRORS:
            with contextlib.suppress(*STATE_ERRORS):
                self.redis.delete(pending)
            raise
        now = self.clock()
        log.info("code queued for %s (device %s, AC %s)", _mask(issued.phone), ctx.device, ctx.ac)
        return CodeSent(issued.phone, max(0, int(issued.resend_after - now)),
                        max(0, int(issued.expires_at - now)))

    def login_with_code(self, ctx: PhoneContext, phone: str, code: str, *, page: str = "",
                        observed: str = "") -> LoginSuccess:
        """Verify the code (exactly once) and log the phone in on the AC.

        ``page`` is the login page's context token. When anything after the verification fails
        (plan refusal, AC timeout, portal busy, real-name write), a single-use retry ticket is
        granted to this device and page: the same code from the same page may try once more,
        and nothing else can use it (``OtpService.grant_retry``)."""
        if not phone.strip():
            raise LoginError("phone_missing")
        try:
            verified = self.otp.verify(phone, code, ctx.mac, ctx.user_ip, page=page)
        except OtpRejected as exc:
            raise LoginError(exc.code, attempts_left=exc.attempts_left, detail=str(exc)) from None
        national = verified.phone
        try:
            grant, plan = self._grant(national, ctx)
            token = self.credentials.mint_login_token(national, ctx.mac or None,
                                                      ttl=self.web.login_token_ttl)
            self._ac_login(ctx, token)
            days = plan.mac_binding_days or self.web.binding_days
            if ctx.mac and days > 0:
                self.credentials.bind_mac(ctx.mac, national, days)
            # The device's pending number is dead once its code is used (``landing`` resumes
            # only an unused code): forgotten in the login's own pipeline, no round trip of its own.
            success = self._logged_in(ctx, national, plan, grant, "sms", observed=observed,
                                      forget=keys.device_pending_phone(ctx.device))
        except LoginError:
            self._allow_retry(verified, page)
            raise
        except STATE_ERRORS:
            self._allow_retry(verified, page)
            raise
        return success

    def _allow_retry(self, verified: Any, page: str) -> None:
        try:
            self.otp.grant_retry(verified, page)
        except STATE_ERRORS as exc:      # Redis is what failed: the user asks for a new code
            log.warning("no retry ticket for %s: %s", _mask(verified.phone), exc)

    # --- silent MAC login (MAC-trigger ACs) ------------------------------------------------------

    def silent_login_allowed(self, ac_name: str, ssid: str = "") -> bool:
        """Whether the venue of this AC (+ SSID) lets bound devices in without any page."""
        return bool(self.venues.resolve(ac_name, ssid or None).silent_mac_login)

    def silent_login(self, ac_name: str, mac: str, user_ip: str, ssid: str = "") -> bool:
        """Log a bound device in without any page (0x30 → bound). False when not allowed/failed."""
        venue = self.venues.resolve(ac_name, ssid or None)
        if not venue.silent_mac_login:
            log.info("silent login of %s on %s skipped: venue %s does not allow it", mac, ac_name, venue.id)
            return False
        ctx = PhoneContext(ac=ac_name, user_ip=user_ip, mac=mac, ssid=ssid, venue=venue.id)
        try:
            credential = self.credentials.mac_credential(mac)
            if credential is None:
                raise LoginError("not_bound")
            grant, plan = self._grant(credential.username, ctx)
            self._ac_login(ctx, credential)
            self._logged_in(ctx, credential.username, plan, grant, "silent")
        except LoginError as exc:
            log.info("silent login of %s on %s failed: %s", mac, ac_name, exc)
            return False
        return True

    # --- shared steps ------------------------------------------------------------------------------

    def _grant(self, phone: str, ctx: PhoneContext) -> tuple[Grant, Plan]:
        """Plan and quota check before spending an AC round trip (RADIUS checks again)."""
        try:
            grant = self.authorizer.authorize(phone, ctx.mac or None, self._ac(ctx.ac), ctx.ssid or None,
                                              self.clock(), venue=ctx.venue)
        except QuotaRefusal as refusal:
            code = "plan_expired" if refusal.code == "expired" else refusal.code
            raise LoginError(code, detail=str(refusal)) from None
        plan = self.plans.plan_named(grant.plan_name)
        assert plan is not None
        return grant, plan

    def _client_now(self) -> PortalClient:
        with self._lock:
            if self._client is None or self._client_pid != os.getpid():
                self._client = self._client_factory()
                self._client_pid = os.getpid()
            return self._client

    def _ac_login(self, ctx: PhoneContext, credential: Credential) -> LoginResult | None:
        record = self._ac(ctx.ac)
        if no_portal_login(record):       # a gateway kind: handoff grants (browser or controller)
            claim_redirect(self, ctx)     # Chilli: a redirect's challenge carries one grant
            return None
        if not self._slots.acquire(timeout=self.web.busy_wait):
            raise LoginError("busy", retry_after=5, detail="no free AC login slot")
        try:
            result = self._client_now().login(endpoint_for(record, self.settings), ctx.user_ip,
                                              credential.username, credential.password,
                                              mac=ctx.mac or None)
        finally:
            self._slots.release()
        self.ac_outcomes.note(ctx.ac, ok=result.ok, timed_out=result.timed_out, error=result.text,
                              bad_auth="authenticator did not verify" in result.diagnostic)
        if result.ok:
            return result
        if result.timed_out:
            log.warning("AC login timeout for %s on %s: %s", ctx.user_ip, ctx.ac, result.diagnostic)
            raise LoginError("ac_timeout", detail=result.diagnostic)
        log.info("AC %s rejected %s (ErrCode %s, %s): %s", ctx.ac, ctx.user_ip, result.err_code,
                 result.stage, result.text)
        if _names_device_mismatch(result.text):
            # RADIUS saw the AC report another MAC than the page claimed (someone naming a
            # device that is not theirs): say so plainly rather than "refused: <text>".
            log.warning("AC %s reports another MAC for %s than the claimed %s: refused", ctx.ac,
                        ctx.user_ip, ctx.mac or "-")
            raise LoginError("mac_mismatch", detail=result.diagnostic)
        raise LoginError("ac_rejected", reply_message=result.text, detail=result.diagnostic)

    def _logged_in(self, ctx: PhoneContext, phone: str, plan: Plan, grant: Grant, kind: str, *,
                   observed: str = "", forget: str = "") -> LoginSuccess:
        venue = self.venue(ctx)
        now = self.clock()
        # The record is written before the success page: no one is online without it. It keeps
        # the device the AC's redirect claimed (MAC, IP) AND the address the request came from.
        record = LoginRecord(phone=phone, mac=ctx.mac, ip=ctx.user_ip, ac=ctx.ac, ap=ctx.ap,
                             ssid=ctx.ssid, venue=venue.id, kind=kind, plan=plan.name, at=now,
                             observed_ip=observed)
        try:
            self.reallog.append(record)
        except STATE_ERRORS as exc:
            self._undo_ac_login(ctx, phone, exc)
            raise LoginError("state_unavailable", retry_after=5,
                             detail=f"real-name record not written: {exc}") from None
        ttl = int(grant.session_timeout or 86400) + 300
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(keys.portal_login(ctx.ac, ctx.user_ip), mapping={
            "phone": phone, "mac": ctx.mac, "plan": plan.name, "venue": venue.id, "ssid": ctx.ssid,
            "ap": ctx.ap, "at": f"{now:.3f}", "kind": kind})
        pipe.expire(keys.portal_login(ctx.ac, ctx.user_ip), ttl)
        if self._ac(ctx.ac).kind == "portal":   # a gateway NATs: the address names no phone
            pipe.set(keys.login_by_ip(ctx.user_ip), ctx.ac, ex=ttl)
        pipe.hincrby(keys.venue_stats(venue.id), {"sms": "logins", "returning": "returning_logins"}
                     .get(kind, "silent_logins"), 1)
        self.livestats.login_in(pipe, kind, venue.id)
        if forget:
            pipe.delete(forget)
        pipe.execute()
        log.info("login %s: %s MAC %s IP %s on %s (venue %s, plan %s)", kind, _mask(phone),
                 ctx.mac or "-", ctx.user_ip, ctx.ac, venue.id, plan.name)
        return handoff(self, ctx, self._ac(ctx.ac), plan, grant,
                       LoginSuccess(phone, plan, self.redirect_target(venue), venue.redirect_delay, kind,
                                    self.session_token(ctx.ac, ctx.user_ip, phone)))

    def _undo_ac_login(self, ctx: PhoneContext, phone: str, cause: BaseException) -> None:
        """The AC accepted a login whose real-name record could not be written: log the user out
        on the AC again (the law allows no one online without a record) and say so loudly."""
        self.counters.inc("login.realname_failed")
        if no_portal_login(self._ac(ctx.ac)):      # not sent to the gateway yet: nothing granted
            log.error("real-name record for %s on %s NOT written (%s): no grant URL given",
                      _mask(phone), ctx.ac, cause)
            return
        try:
            result = self._client_now().logout(endpoint_for(self._ac(ctx.ac), self.settings),
                                               ctx.user_ip, mac=ctx.mac or None)
        except Exception as exc:   # still report below; the real-name failure is what the phone sees
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            ok, why = result.ok, result.diagnostic
        if ok:
            log.error("real-name record for %s MAC %s IP %s on %s NOT written (%s): logged out on "
                      "the AC again", _mask(phone), ctx.mac or "-", ctx.user_ip, ctx.ac, cause)
            return
        self.counters.inc("login.realname_logout_failed")
        log.critical("real-name record for %s MAC %s IP %s on %s NOT written (%s) and the AC did "
                     "not confirm REQ_LOGOUT (%s): the user may be online without a record; kick "
                     "them from /noc/sessions", _mask(phone), ctx.mac or "-", ctx.user_ip, ctx.ac,
                     cause, why)

    def redirect_target(self, venue: Venue) -> str:
        """The allow-listed post-login URL ("" = none: the success page stays)."""
        allowed = (*venue.redirect_hosts, *self.web.redirect_hosts)
        for url in (venue.redirect_url, self.web.operator_url):
            if url and allowed_redirect(url, allowed):
                return url
            if url:
                log.warning("post-login URL %s of venue %s is not allow-listed; ignored", url, venue.id)
        return ""

    # --- status, logout, close -----------------------------------------------------------------------

    def session_token(self, ac: str, user_ip: str, phone: str) -> str:
        # Sealed, not just signed: the link sits in URLs (access logs, history) for 30 days, and
        # a signed token's body (phone number, address) is readable base64.
        return self.signer.seal("ses", {"ac": ac, "ip": user_ip, "p": phone}, 30 * 86400)

    def open_session_token(self, token: str) -> tuple[str, str, str]:
        data = self.signer.unseal("ses", token[:512])
        return str(data["ac"]), str(data["ip"]), str(data["p"])

    def ac_for_ip(self, user_ip: str) -> str | None:
        raw = self.redis.get(keys.login_by_ip(user_ip))
        return None if raw is None else raw.decode()

    def status(self, ac: str, user_ip: str, phone: str | None = None) -> StatusView:
        """The portal's view: online iff a portal login exists AND RADIUS has not closed it."""
        raw = self.redis.hgetall(keys.portal_login(ac, user_ip))
        rec = {k.decode(): v.decode() for k, v in raw.items()}
        if not rec or (phone is not None and rec.get("phone") != phone):
            return StatusView(False)
        now = self.clock()
        sessions = self.sessions.by_phone(rec["phone"])
        mac = rec.get("mac", "")
        mine = [s for s in sessions if s.ac == ac and (s.ip == user_ip or (mac and s.mac == mac))]
        if not mine and now - float(rec.get("at", 0)) > _START_GRACE:
            # Accounting closed it (Stop) or never opened it: the login is over.
            self.redis.delete(keys.portal_login(ac, user_ip))
            return StatusView(False)
        # The plan the session runs under now (a NOC change applied by CoA, or the revision its AC
        # still enforces), else the one of the login.
        plan_name = next((s.plan for s in mine if s.plan), "") or rec.get("plan", "")
        plan = self.plans.plan_named(plan_name) or Plan(name=rec.get("plan") or "unknown")
        usage = self.usage.get(rec["phone"], now)
        from portal.aaa.grants import remaining_time

        seconds = remaining_time(plan, usage, now, self.usage.tz)
        if mine and seconds is not None:
            seconds = max(0, seconds - max(s.session_time for s in mine))
        limits = ((plan.daily_volume, usage.daily_volume), (plan.total_volume, usage.total_volume))
        left_bytes = [lim - used for lim, used in limits if lim is not None]
        used_now = sum(s.octets for s in mine)
        bytes_left = max(0, min(left_bytes) - used_now) if left_bytes else None
        live = [s for s in sessions if s.deadline(self.sessions.grace) > now]
        return StatusView(True, rec["phone"], plan_title(plan, "zh"), seconds, bytes_left,
                          plan.up_kbps, plan.down_kbps, max(len(live), 1), plan.max_sessions,
                          rec.get("venue", "none"), plan_en=plan_title(plan, "en"))

    def logout(self, ac: str, user_ip: str) -> bool:
        """REQ_LOGOUT on the AC, then forget the portal login. False when the AC did not answer."""
        rec = self.redis.hgetall(keys.portal_login(ac, user_ip))
        mac = (rec.get(b"mac") or b"").decode() or None
        if no_portal_login(self._ac(ac)):
            # openNDS 9.10 cannot be told to drop a client from outside (the limits given at
            # grant time end it); a UniFi controller unauthorises the guest.
            return gateway_logout(self, self._ac(ac), user_ip)
        result = self._client_now().logout(endpoint_for(self._ac(ac), self.settings), user_ip, mac=mac)
        self.close(ac, user_ip, mac, "logout")
        if not result.ok:
            log.warning("REQ_LOGOUT for %s on %s: %s", user_ip, ac, result.diagnostic)
        return result.ok

    def close(self, ac: str, user_ip: str, mac: str | None, cause: str) -> None:
        """Close the portal's view of a login (listener hook: NTF_LOGOUT, user-sync; logout)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(keys.portal_login(ac, user_ip))
        pipe.execute()
        log.info("portal login of %s on %s closed (%s)", user_ip, ac, cause)


def _names_device_mismatch(text: str) -> bool:
    """Whether an AC's TextInfo carries our RADIUS server's device-mismatch Reply-Message (an
    AC may cut or re-join it, so a distinctive prefix of either language is enough)."""
    zh, en = DEVICE_MISMATCH_MESSAGE
    return bool(text) and (zh[:16] in text or en[:48] in text)


def build_journey(settings: Settings, redis: Any) -> PhoneJourney:
    """The journey with every part built from settings (web workers, the listener)."""
    from portal.aaa.blocklist import Blocklist
    from portal.phone.otp import load_hmac_key
    from portal.phone.phone_policy import build_number_policy

    otp = OtpService(redis, settings.otp, load_hmac_key(settings.otp, settings.data_dir),
                     policy=build_number_policy(settings.number_policy, redis), blocklist=Blocklist(redis))
    parts = journey_parts(settings, redis, otp=otp, signer=Signer(web_secret(settings)))
    return PhoneJourney(redis, settings, parts)


def web_secret(settings: Settings) -> bytes:
    """``web.secret_key``, else a key generated once into ``data_dir/web-secret.key`` (0600).
    Every web worker and the listener must share it: set it in settings on multi-host setups."""
    if settings.web.secret_key:
        return settings.web.secret_key.encode()
    path = settings.data_dir / "web-secret.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:       # another process won the race: use its key
        return path.read_bytes()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
