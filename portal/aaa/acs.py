"""The AC registry: which access controllers we serve, how to reach them, and their secrets.

Records live in Redis (edited by the NOC console and API) and can be seeded from the TOML
file's ``[[acs]]`` tables. Lookups by source address or BAS-IP are what the RADIUS server does
for every packet, so ``AcRegistry.by_address`` is one HGET + one HGET. The portal listener
trusts only the source address of a datagram (``AcRegistry.by_source``): its BAS-IP attribute is
the sender's claim and merely chooses among ACs that share one address.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ac_adapters.gateways import ADAPTERS
from ac_adapters.gateways.omada import omada_url_problem
from ac_adapters.gateways.opennds import faskey_ok
from ac_adapters.gateways.unifi import controller_url_problem
from ac_adapters.profiles import PROFILES
from ac_adapters.radius_dialects import DIALECTS
from portal.errors import NotFound, ValidationError
from portal.runtime.settings import MA_MODES, AcSeed
from portal.state import keys

__all__ = ["GATEWAY_KINDS", "MAX_PORTAL_SOURCES", "RADIUS_DIALECTS", "REDIRECT_KEY_LENGTH", "AcRecord",
           "AcRegistry"]

# Reply dialects radius/dialects.py renders: the names of the one table in ac_adapters.radius_dialects.
RADIUS_DIALECTS = tuple(DIALECTS)
MAX_PORTAL_SOURCES = 16
REDIRECT_KEY_LENGTH = 8   # a DES key, as EAG-style ACs configure it (8 characters)
# What the gateway speaks: "portal" = the carrier Portal protocol (ac_adapters.client); the others
# have an adapter in ac_adapters.gateways.
GATEWAY_KINDS = ("portal", *ADAPTERS)


CONTROLLER_KINDS = ("unifi", "omada")       # asked through a controller's API, no RADIUS
OPENAPI_CREDENTIAL = re.compile(r"^[A-Za-z0-9_-]{8,128}:[A-Za-z0-9_-]{8,128}$")


def controller_url_check(name: str, kind: str, url: str) -> None:
    problem = (omada_url_problem(url) if url else "is required for an Omada gateway") if kind == "omada" \
        else controller_url_problem(url)
    if problem:
        raise ValidationError(f"AC {name}: controller_url {problem}")


@dataclass(frozen=True, slots=True)
class AcRecord:
    """One access controller as the registry knows it."""

    name: str
    addresses: tuple[str, ...]          # source IPs it sends portal/RADIUS packets from
    secret: str                         # portal protocol shared secret; chilli: its uamsecret
    vendor: str = "huawei-v2"           # vendor profile name (ac_adapters.profiles)
    bas_ip: str = ""                    # BAS-IP in its packets; "" = first address
    # Addresses its portal-protocol packets (NTF_LOGOUT, MAC-trigger) may come from; () = its
    # `addresses`. ACs behind one NAT address may share one; their BAS-IP tells them apart.
    portal_sources: tuple[str, ...] = ()
    radius_secret: str = ""             # RADIUS shared secret; "" = same as `secret`
    port: int = 2000                    # its portal protocol port
    rfc5176: bool = True                # accepts Disconnect/CoA on coa_port
    coa_port: int = 3799
    heartbeat: bool = False             # wants NTF_HEARTBEAT (0x0F) from us
    user_sync: bool = False             # wants NTF_USER_HEARTBEAT (0x10) user lists
    # Access-Requests without Message-Authenticator: "yes" drop, "no" accept, "auto" accept until
    # it once sent one; "" = radius.require_message_authenticator (radius/ma_policy.py)
    require_message_authenticator: str = ""
    limit_proxy_state: str = ""         # Proxy-State without Message-Authenticator; same values
    strip_realm: bool = True            # RADIUS User-Name "phone@domain" → "phone"
    mac_auth: bool = False              # answers RADIUS MAC authentication from bindings
    radius_dialect: str = ""            # reply dialect (RADIUS_DIALECTS); "" = the vendor profile's
    enabled: bool = True
    timeout: float = 0.0                # per-try portal timeout; 0 = settings default
    retries: int = 0                    # portal tries; 0 = settings default
    description: str = ""
    # The portal sees phones' real addresses (a Layer-3 portal): a phone's request must come from
    # the user IP its redirect names. Off only where NAT hides phone addresses.
    client_address_check: bool = True
    # 8-character key the AC encrypts the user MAC with in its redirect (EAG ``wlanparameter``,
    # DES-ECB). Set: only MACs encrypted with it are accepted. A secret: never shown again.
    redirect_key: str = ""
    # This record is a RADIUS proxy (e.g. FreeRADIUS) in front of real ACs: its requests name the
    # AC by NAS-IP-Address (an address or BAS-IP of that AC) or NAS-Identifier (the AC's name).
    radius_proxy: bool = False
    # On a real AC: the name of the proxy record allowed to speak for it ("" = no proxy may).
    radius_via: str = ""
    # Behind a proxy: send Disconnect/CoA through it (its address, coa_port and secret) instead
    # of straight to this AC; the request still carries this AC's own identifiers.
    dm_via_proxy: bool = False
    kind: str = "portal"                # GATEWAY_KINDS
    # openNDS: the shared `faskey` (rhid = sha256(hid + faskey), signed limits). A secret: never
    # shown again. Letters and digits only: openNDS passes it through a shell printf.
    faskey: str = ""
    # UniFi: the controller's API, https://<user>@<host>[:port][/proxy/network]; Omada:
    # https://<operator>@<host>:8043/<omadacId>. The password is `secret`, the site the record's
    # name (the <site> of UniFi's /guest/s/<site>/ redirect, Omada's site parameter).
    controller_url: str = ""
    # CoovaChilli: the login page logs in through Chilli's JSON interface (/json/status,
    # /json/logon, JSONP) and shows the outcome itself, instead of sending the browser to /logon.
    json_login: bool = False
    # Omada: the Open API application (client mode) that reads the site's clients' traffic for
    # usage, as <client_id>:<client_secret> (portal/aaa/omada_usage.py). A secret: never shown again.
    openapi_client: str = ""

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ValidationError(f"AC name {self.name!r}: use letters, digits, '-', '_' or '.'")
        if not self.addresses:
            raise ValidationError(f"AC {self.name}: at least one address is required")
        for addr in (*self.addresses, *self.portal_sources, *((self.bas_ip,) if self.bas_ip else ())):
            try:
                if not isinstance(addr, str):
                    raise TypeError(addr)
                ipaddress.ip_address(addr)
            except (TypeError, ValueError):
                raise ValidationError(f"AC {self.name}: {addr!r} is not an IP address") from None
        if len(self.portal_sources) > MAX_PORTAL_SOURCES:
            raise ValidationError(f"AC {self.name}: at most {MAX_PORTAL_SOURCES} portal source addresses")
        if self.vendor not in PROFILES:
            raise ValidationError(
                f"AC {self.name}: unknown vendor profile {self.vendor!r} "
                f"(known: {', '.join(sorted(PROFILES))})"
            )
        if not self.secret:
            raise ValidationError(f"AC {self.name}: a shared secret is required")
        if self.radius_dialect and self.radius_dialect not in RADIUS_DIALECTS:
            raise ValidationError(
                f"AC {self.name}: unknown RADIUS dialect {self.radius_dialect!r} "
                f"(known: {', '.join(RADIUS_DIALECTS)})"
            )
        if self.redirect_key and not (len(self.redirect_key) == REDIRECT_KEY_LENGTH
                                      and all("\x21" <= c <= "\x7e" for c in self.redirect_key)):
            raise ValidationError(f"AC {self.name}: the redirect key is {REDIRECT_KEY_LENGTH} visible "
                                  "ASCII characters (the AC's DES key)")
        for label in ("require_message_authenticator", "limit_proxy_state"):
            value = getattr(self, label)
            if value not in ("", *MA_MODES):
                raise ValidationError(f"AC {self.name}: {label} must be yes, no, auto or empty "
                                      f"(the global setting), got {value!r}")
        if self.radius_proxy and self.radius_via:
            raise ValidationError(f"AC {self.name}: a RADIUS proxy cannot itself sit behind one")
        if self.radius_via and not all(c.isalnum() or c in "-_." for c in self.radius_via):
            raise ValidationError(f"AC {self.name}: radius_via {self.radius_via!r} is not an AC name")
        if self.kind not in GATEWAY_KINDS:
            raise ValidationError(f"AC {self.name}: unknown kind {self.kind!r} "
                                  f"(known: {', '.join(GATEWAY_KINDS)})")
        if self.faskey and not faskey_ok(self.faskey):
            raise ValidationError(f"AC {self.name}: the faskey is 8-128 letters and digits")
        if self.kind == "chilli" and len(self.secret) < 8:     # md and the logon hang on it
            raise ValidationError(f"AC {self.name}: a CoovaChilli secret (its uamsecret) is 8+ characters")
        if self.kind in CONTROLLER_KINDS or self.controller_url:
            controller_url_check(self.name, self.kind, self.controller_url)
        if self.kind in CONTROLLER_KINDS and self.rfc5176:   # the controller is asked, not a NAS
            raise ValidationError(f"AC {self.name}: a {self.kind} gateway takes no RADIUS Disconnect/CoA: "
                                  "set rfc5176 = false")
        if self.openapi_client and (self.kind != "omada"
                                    or not OPENAPI_CREDENTIAL.match(self.openapi_client)):
            raise ValidationError(f"AC {self.name}: openapi_client is an Omada entry's Open API "
                                  "<client_id>:<client_secret> (letters and digits)")
        if self.kind == "opennds" and not self.faskey:
            raise ValidationError(f"AC {self.name}: an openNDS gateway needs its faskey")
        for label, port in (("port", self.port), ("coa_port", self.coa_port)):
            if not 1 <= port <= 65535:
                raise ValidationError(f"AC {self.name}: {label} {port} is out of range")

    @property
    def effective_bas_ip(self) -> str:
        return self.bas_ip or self.addresses[0]

    @property
    def effective_portal_sources(self) -> tuple[str, ...]:
        """Where the listener accepts this AC's packets from."""
        return self.portal_sources or self.addresses

    @property
    def effective_radius_secret(self) -> str:
        return self.radius_secret or self.secret

    @property
    def effective_radius_dialect(self) -> str:
        """The dialect to answer in: explicit, else the one the vendor profile names."""
        return (self.radius_dialect or getattr(ADAPTERS.get(self.kind), "default_dialect", "")
                or PROFILES[self.vendor].radius_dialect)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"unknown AC field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        # Records written before these became yes/no/auto hold a boolean: every AC was stored
        # with true (the old default, so no operator's choice) and false meant "not required".
        for label in ("require_message_authenticator", "limit_proxy_state"):
            if isinstance(values.get(label), bool):
                values[label] = "" if values[label] else "no"
        for key in ("addresses", "portal_sources"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, raw: str | bytes) -> AcRecord:
        return cls.from_dict(json.loads(raw))

    @classmethod
    def from_seed(cls, seed: AcSeed) -> AcRecord:
        return cls.from_dict(dataclasses.asdict(seed))


class AcRegistry:
    """CRUD over AC records plus the address → AC index, all in the ``{acs}`` hash slot."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def put(self, record: AcRecord) -> None:
        """Create or replace an AC; its addresses must not belong to another AC."""
        index = self.redis.hgetall(keys.ac_address_index())
        mine = {*record.addresses, record.effective_bas_ip}
        for addr in mine:
            owner = index.get(addr.encode())
            if owner is not None and owner.decode() != record.name:
                raise ValidationError(f"address {addr} already belongs to AC {owner.decode()}")
        old = self.get_or_none(record.name)
        stale = set()
        stale_sources: set[str] = set()
        if old is not None:
            stale = {*old.addresses, old.effective_bas_ip} - mine
            stale_sources = set(old.portal_sources) - set(record.portal_sources)
        pipe = self.redis.pipeline(transaction=True)
        if old is None or _policy_of(old) != _policy_of(record):
            # Another device or other rules: what RADIUS learned about the old one no longer holds.
            pipe.delete(keys.ac_radius_learned(record.name))
        pipe.hset(keys.ac(record.name), mapping={"json": record.to_json(), "updated": time.time()})
        pipe.sadd(keys.ac_names(), record.name)
        if stale:
            pipe.hdel(keys.ac_address_index(), *stale)
        pipe.hset(keys.ac_address_index(), mapping={addr: record.name for addr in mine})
        for addr in stale_sources:
            pipe.srem(keys.ac_portal_source(addr), record.name)
        for addr in set(record.portal_sources):
            pipe.sadd(keys.ac_portal_source(addr), record.name)
        pipe.execute()

    def get_or_none(self, name: str) -> AcRecord | None:
        raw = self.redis.hget(keys.ac(name), "json")
        return None if raw is None else AcRecord.from_json(raw)

    def get(self, name: str) -> AcRecord:
        record = self.get_or_none(name)
        if record is None:
            raise NotFound(f"no AC named {name!r}")
        return record

    def by_address(self, address: str) -> AcRecord | None:
        """The AC that owns a source address or BAS-IP, if any."""
        name = self.redis.hget(keys.ac_address_index(), address)
        return None if name is None else self.get_or_none(name.decode())

    def by_source(self, address: str) -> list[AcRecord]:
        """Every AC whose portal-protocol packets may come from ``address``: those listing it in
        ``portal_sources``, and the owner of ``address`` when that AC has no such list. Two
        pipelined round trips; each record is checked again, so a stale index entry is harmless."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.ac_address_index(), address)
        pipe.smembers(keys.ac_portal_source(address))
        owner, listed = pipe.execute()
        names = {n.decode() for n in listed}
        if owner is not None:
            names.add(owner.decode())
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for name in sorted(names):
            pipe.hget(keys.ac(name), "json")
        records = [AcRecord.from_json(raw) for raw in pipe.execute() if raw is not None]
        return [r for r in records if address in r.effective_portal_sources]

    def names(self) -> list[str]:
        return sorted(n.decode() for n in self.redis.smembers(keys.ac_names()))

    def all(self) -> list[AcRecord]:
        return [r for n in self.names() if (r := self.get_or_none(n)) is not None]

    def delete(self, name: str) -> None:
        record = self.get(name)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.ac(name), keys.ac_radius_learned(name))
        pipe.srem(keys.ac_names(), name)
        pipe.hdel(keys.ac_address_index(), *{*record.addresses, record.effective_bas_ip})
        for addr in set(record.portal_sources):
            pipe.srem(keys.ac_portal_source(addr), name)
        pipe.execute()

    def seed(self, seeds: tuple[AcSeed, ...], *, overwrite: bool = False) -> list[str]:
        """Copy ACs from settings into Redis; existing records win unless ``overwrite``.

        Returns the names written. Console edits therefore survive a restart, and so does a
        deletion: an AC seeded once and deleted since (retired, or removed because its secret
        leaked) is not brought back by the next process that starts.
        """
        if not seeds:
            return []
        seeded = {m.decode() for m in self.redis.smembers(keys.ac_seeds())}
        written = []
        for seed in seeds:
            record = AcRecord.from_seed(seed)
            exists = self.get_or_none(record.name) is not None
            if overwrite or (not exists and record.name not in seeded):
                self.put(record)
                self.redis.sadd(keys.ac_seeds(), record.name)
                written.append(record.name)
            elif exists and record.name not in seeded:
                self.redis.sadd(keys.ac_seeds(), record.name)   # created elsewhere: it counts
        return written


def _policy_of(record: AcRecord) -> tuple[Any, ...]:
    """What the RADIUS servers' learned Message-Authenticator state depends on."""
    return (record.addresses, record.require_message_authenticator, record.limit_proxy_state)
