"""``[reports]`` settings (for portal/reports/): a module of its own, as the other sections sit in
``portal/runtime/settings_*.py``; ``portal/runtime/settings.py`` holds it as ``Settings.reports``. Only the
standard library here: the settings module imports this one."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ReportSettings"]


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """Daily report roll-ups (portal/reports/), by local day of the archive's time zone.

    The time zone is ``archive.timezone``, else ``quota.timezone``."""

    enabled: bool = True               # `citywifi archive schedule` also runs the roll-up
    retention_days: int = 800          # rolled-up days kept (at least two years)
    session_span_hours: int = 24       # a day is final this long after it ended (open sessions)
    delay_minutes: int = 15            # first roll-up of a day this long after it ended
    interval_seconds: int = 600        # how often the job looks for days to roll up
    max_days_per_run: int = 60         # back-fill this many days per run at most

    def __post_init__(self) -> None:
        if self.retention_days < 731:
            raise ValueError(f"retention_days: at least 731 (two years), got {self.retention_days}")
        if not 1 <= self.session_span_hours <= 24 * 7:
            raise ValueError(f"session_span_hours: expected 1 to 168, got {self.session_span_hours}")
        if not 0 <= self.delay_minutes <= 24 * 60:
            raise ValueError(f"delay_minutes: expected 0 to 1440, got {self.delay_minutes}")
        if not 10 <= self.interval_seconds <= 86400:
            raise ValueError(f"interval_seconds: expected 10 to 86400, got {self.interval_seconds}")
        if not 1 <= self.max_days_per_run <= 1000:
            raise ValueError(f"max_days_per_run: expected 1 to 1000, got {self.max_days_per_run}")
