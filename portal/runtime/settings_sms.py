"""Settings of the phone's SMS code: the SMS gateways and the sms-worker, the OTP limits, and
the number policy (which numbers may ask for a code).

Re-exported by :mod:`portal.runtime.settings`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.runtime.settings_loader import SettingsError

__all__ = ["NumberPolicySettings", "OtpSettings", "SmsGatewaySettings", "SmsSettings"]


@dataclass(frozen=True, slots=True)
class SmsGatewaySettings:
    """One SMS gateway (`[[sms.gateways]]` in TOML); sms-worker tries them by priority.
    Every option is validated at load time (portal/runtime/sms_gateway_settings.py)."""

    name: str = ""
    kind: str = "file"             # a kind of sms_gateway/kinds.py (the example lists them)
    priority: int = 100            # lower is tried first; transient failures fail over
    host: str = ""                 # smgp/cmpp/smpp gateway address
    port: int = 0                  # 0 = the kind's default_port (sms_gateway/kinds.py)
    account: str = ""              # SMGP ClientID / CMPP SP_Id / SMPP system_id / cloud AccessKeyId/SecretId
    password: str = ""             # shared secret / AccessKeySecret / SecretKey
    src_number: str = ""           # SP access number (106…) sent as the source; smpp: or a sender name
    service_id: str = ""           # SMGP/CMPP ServiceID
    version: str = "3.0"           # CMPP protocol version: 3.0 or 2.0
    encoding: str = "auto"         # auto (smpp GSM 7-bit when the text fits, else UCS2), ucs2, gb18030
    window: int = 16               # requests outstanding before waiting (spec §1.2)
    response_timeout: float = 10.0  # seconds for a response; then "may have been sent"
    connect_timeout: float = 5.0
    heartbeat: float = 30.0        # idle seconds before an active test / enquire_link
    backoff_max: float = 30.0      # reconnect back-off cap (starts at 0.5 s, doubles)
    dest_prefix: str = "auto"      # destination: auto (smpp 86…, smgp/cmpp 11 digits), none, 86, +86
    registered_delivery: bool = True  # ask for delivery reports (smpp/cmpp flag, smgp NeedReport)
    tp_pid: int = 0                # TP-PID: cmpp TP_pId, smgp TP_pid TLV (0 = none), smpp protocol_id
    fee_type: str = ""             # smgp/cmpp FeeType; empty = free (cmpp "01", smgp "00")
    fee_code: str = "000000"       # smgp/cmpp FeeCode in fen
    fixed_fee: str = "000000"      # smgp FixedFee in fen (monthly / capped fees)
    fee_user_type: int = 0         # cmpp Fee_UserType: 0 destination, 1 source, 2 SP, 3 charge_number
    charge_number: str = ""        # cmpp Fee_terminal_Id / smgp ChargeTermID; empty = none
    msg_src: str = ""              # cmpp Msg_src (empty = account) / smgp MsgSrc TLV (empty = not sent)
    system_type: str = ""          # smpp bind system_type (up to 12 characters, as the SMSC assigned)
    service_type: str = ""         # smpp submit_sm service_type (up to 5 characters)
    source_ton: int = 0            # smpp source_addr_ton: 0 unknown, 1 international, 5 alphanumeric sender
    source_npi: int = 0            # smpp source_addr_npi: 0 unknown, 1 ISDN (E.164)
    dest_ton: int = 1              # smpp dest_addr_ton: 1 international (86…), 2 national (dest_prefix none)
    dest_npi: int = 1              # smpp dest_addr_npi: 1 ISDN (E.164)
    bind: str = "transceiver"      # smpp/smgp: transceiver, or separate (tx + rx binds / LoginMode 0 + 1)
    tls: bool = False              # smgp/cmpp/smpp over TLS (the certificate is always verified)
    tls_ca_file: str = ""          # PEM CA bundle to verify the gateway with; empty = the system's CAs
    tls_server_name: str = ""      # name the gateway's certificate must carry; empty = host
    tls_cert_file: str = ""        # our client certificate (PEM) when the gateway wants mutual TLS
    tls_key_file: str = ""         # its private key (PEM); empty = inside tls_cert_file
    not_subscriber_codes: tuple[str, ...] = ()  # more report codes meaning "not a subscriber" (STAT[/ERR])
    url: str = ""                  # http: endpoint; aliyun/tencent: override (tests)
    method: str = "POST"           # http: GET or POST
    body_template: str = ""        # http: body with {phone} {text} {request_id} (JSON-escaped)
    content_type: str = "application/json"
    success_field: str = ""        # http: JSON field that must equal success_value ("" = 2xx only)
    success_value: str = ""
    message_id_field: str = ""     # http: JSON field holding the gateway's message id
    region: str = ""               # aliyun RegionId / tencent X-TC-Region
    app_id: str = ""               # tencent SmsSdkAppId
    sign_name: str = ""            # aliyun/tencent approved signature name (without 【】)
    templates: tuple[str, ...] = ()  # aliyun/tencent: "otp=SMS_123456" template-code mapping
    outbox_dir: str = ""           # file: directory; empty = data_dir/sms-outbox

    def __post_init__(self) -> None:
        from portal.runtime.sms_gateway_settings import check_gateway  # (it imports this module)

        check_gateway(self)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    signature: str = "【无线城市】"
    backend: str = "file"          # first backend; more in the smsgateways tables
    outbox_dir: str = ""           # file backend; empty = data_dir/sms-outbox
    gateways: tuple[SmsGatewaySettings, ...] = ()  # [[sms.gateways]]; empty = one `backend`
    claim_idle: float = 60.0       # seconds before a dead worker's pending job is re-claimed
    batch: int = 16                # jobs a worker sends concurrently
    job_ttl: int = 7 * 86400       # seconds job outcomes and delivery reports are kept
    template_otp_zh: str = ""      # override of the built-in OTP text ({code}, {minutes})
    template_otp_en: str = ""
    price_fen: int = 4             # cost of one SMS in fen (0.01 CNY), for the dashboard's spend figure
    budget_fen_per_month: int = 0  # monthly SMS budget in fen shown against the spend; 0 = no budget
    metrics_port: int = 0          # sms-worker /metrics, /healthz, /readyz HTTP port; 0 = off

    def __post_init__(self) -> None:
        if not self.gateways:   # `backend` alone stands for a gateway of that kind with defaults
            try:
                SmsGatewaySettings(name=self.backend, kind=self.backend)
            except SettingsError as exc:
                raise SettingsError("backend", f"{exc.problem} (a {self.backend!r} gateway needs its "
                                               "[[sms.gateways]] table)") from None
        names: set[str] = set()
        for i, g in enumerate(self.gateways):
            if not g.name:
                raise SettingsError(f"gateways[{i}].name", "every gateway needs a name (reports, logs)")
            if g.name in names:
                raise SettingsError(f"gateways[{i}].name", f"gateway {g.name!r} is defined twice")
            names.add(g.name)
        if not 1 <= self.batch <= 1024:
            raise SettingsError("batch", f"1 to 1024 jobs, got {self.batch}")
        if self.claim_idle <= 0:
            raise SettingsError("claim_idle", f"more than 0 seconds, got {self.claim_idle}")
        if self.job_ttl < 60:
            raise SettingsError("job_ttl", f"at least 60 seconds, got {self.job_ttl}")


@dataclass(frozen=True, slots=True)
class OtpSettings:
    """SMS one-time codes and SMS-abuse limits (docs/protocols/sms.md §4). A limit of 0 means no limit."""

    digits: int = 6                    # code length (NIST: ≥ 20 bits wanted → 7 digits)
    lifetime: int = 300                # seconds a code stays valid (NIST maximum 600)
    max_attempts: int = 5              # wrong tries per code before it is dead
    resend_cooldown: int = 60          # seconds between two codes to one number
    per_phone_hour: int = 5            # codes per number per clock hour
    per_phone_day: int = 10            # codes per number per day (day boundary: day_utc_offset)
    per_mac_hour: int = 5              # codes asked for one device MAC from one address per hour
    per_mac_day: int = 10
    per_ip_hour: int = 30              # codes asked from one client IP per hour
    per_ip_day: int = 100
    # The request's observed peer (after trusted proxies), whatever the redirect claims; NAT = a venue.
    per_source_hour: int = 30          # codes asked from one observed source address per hour
    per_source_day: int = 100          # codes asked from one observed source address per day
    per_ac_minute: int = 60            # codes asked through one AC per minute
    global_per_minute: int = 300       # SMS budget of the whole installation per minute
    day_utc_offset: int = 8            # hours east of UTC where "per day" caps roll over (China: 8)
    hmac_key: str = ""                 # server key for code hashes; empty = data_dir/otp-hmac.key
    record_grace: int = 600            # seconds a used/expired code is remembered (precise errors)

    def __post_init__(self) -> None:
        if not 4 <= self.digits <= 10:
            raise ValueError("digits: expected 4 to 10")
        if self.lifetime <= 0 or self.max_attempts <= 0:
            raise ValueError("lifetime and max_attempts must be positive")


@dataclass(frozen=True, slots=True)
class NumberPolicySettings:
    """Which phone numbers may get a code (docs/protocols/sms.md §3.6); see sms_gateway.policy."""

    allowed_carriers: tuple[str, ...] = ("telecom",)   # telecom, mobile, unicom, broadnet, satnet, other
    allowed_kinds: tuple[str, ...] = ("regular", "data")   # + virtual, iot, satellite
    allowed_provinces: tuple[str, ...] = ()    # e.g. 四川 / 四川省 / Sichuan; empty = any
    allowed_cities: tuple[str, ...] = ()       # e.g. 成都; a number passes if province OR city match
    allow_list: tuple[str, ...] = ()           # numbers always allowed (skip carrier/kind/region)
    deny_list: tuple[str, ...] = ()            # numbers never allowed
    unknown_region: str = "refuse"             # when regions are restricted and a number has none
    segment_table: str = ""                    # TOML segment table; empty = the shipped MIIT table
    region_table: str = ""                     # 7-digit region CSV (sms_gateway.regions); empty = none
    region_check_interval: float = 5.0         # seconds between checks of the CSV's mtime
    lookup_url: str = ""                       # operator subscriber-lookup endpoint; empty = off
    lookup_token: str = ""                     # Bearer token for it
    lookup_timeout: float = 2.0
    lookup_cache_ttl: int = 86400              # seconds an answer is cached in Redis
    lookup_negative_ttl: int = 3600            # seconds a "don't know this number" (404) is cached
    not_subscriber_ttl: int = 86400            # seconds a "not a subscriber" report refuses a number; 0 = off

    def __post_init__(self) -> None:
        if not 0 <= self.not_subscriber_ttl <= 30 * 86400:
            raise SettingsError("not_subscriber_ttl", f"0 to 2592000 seconds, got {self.not_subscriber_ttl}")
