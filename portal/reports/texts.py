"""The words of the reports: figure names, export headings and refused queries (zh + en).

Audience: the NOC and venue operators reading a report page or an exported CSV/XLSX file, and
API clients (``/api/v1/reports``) reading a refusal. Entries are ``(zh, en)`` pairs, except
:data:`FIGURES`, which keeps its ``(name, zh, en)`` shape (every consumer walks it in order); a text
with parameters is a ``str.format`` template with named fields. The other catalogs:
``portal/texts.py`` lists them.
"""

from __future__ import annotations

__all__ = ["EXPORT_LABELS", "FIGURES", "REQUEST_ERRORS"]

# Figures shown in tables and exports, in order: name, zh, en.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("logins", "登录次数", "Logins"),
    ("logins_sms", "短信验证码登录", "SMS-code logins"),
    ("logins_returning", "看广告后登录", "Returning (after the ad)"),
    ("logins_silent", "无感知登录", "Silent (MAC) logins"),
    ("phones", "用户数（按日）", "Phones (per day)"),
    ("new_phones", "新用户", "First-time phones"),
    ("sessions", "上网会话", "Sessions"),
    ("minutes", "在线分钟", "Online minutes"),
    ("bytes_up", "上行流量（字节）", "Traffic up (bytes)"),
    ("bytes_down", "下行流量（字节）", "Traffic down (bytes)"),
    ("peak_sessions", "最高同时在线", "Peak concurrent sessions"),
    ("sms_sent", "短信发送", "SMS sent"),
    ("sms_delivered", "短信送达", "SMS delivered"),
    ("sms_failed", "短信失败", "SMS failed"),
    ("sms_yuan", "短信费用（元）", "SMS cost (CNY)"),
)

# Headings and sheet names of the CSV and XLSX exports (portal.reports.render).
EXPORT_LABELS: dict[str, tuple[str, str]] = {
    "day": ("日期", "Day"),
    "total": ("合计", "Total"),
    "by": ("维度", "By"),
    "name": ("名称", "Name"),
    "daily": ("每日", "Daily"),
    "breakdown": ("分类", "Breakdown"),
    "refusals_and_ads": ("拒绝与广告", "Refusals and ads"),
    "refusal_reason": ("拒绝原因", "Refusal reason"),
    "count": ("次数", "Count"),
    "campaign": ("广告活动", "Campaign"),
    "impressions": ("展示", "Impressions"),
    "completed_views": ("完整观看", "Completed views"),
    "clicks": ("点击", "Clicks"),
}

# Why a report query is refused (ReportRequestError; its code is bad_period, bad_scope or
# no_such_venue).
REQUEST_ERRORS: dict[str, tuple[str, str]] = {
    "custom_needs_dates": ("自定义时段需要开始和结束日期", "a custom period needs from and to"),
    "ends_before_start": ("结束日期早于开始日期", "the period ends before it starts"),
    "too_many_days": ("一次最多 {days} 天", "at most {days} days at once"),
    "bad_period": ("时段应为 day、week、month 或 custom", "period: expected day, week, month or custom"),
    "bad_scope": ("范围应为 all、venue 或 ac", "scope: expected all, venue or ac"),
    "needs_name": ("请指定场所或 AC", "name the venue or AC"),
    "venue_account_scope": ("场所账号只能按场所查看报表", "venue accounts see reports by venue"),
    "no_such_venue": ("没有这个场所", "no such venue"),
}
