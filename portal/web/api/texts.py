"""What an API client reads when a call fails (zh, en): the ``message_zh`` and ``message`` of
``{"error": {"code", "message", "message_zh"}}``.

Audience: API clients (the NOC's scripts and whoever reads their logs). Entries are ``(zh, en)``
templates with named fields; :func:`en_zh` fills one in the order ``ApiError`` and ``body_error``
take (English ``message`` first). Why a body fails its JSON schema is worded in
``portal/web/api/api_schema_texts.py``; the phone's error codes are ``portal/web/errors.py``; the
other areas keep their own ``texts.py`` / ``*_texts.py`` catalogs (docs/architecture.md,
"Where words live").
"""

# ruff: noqa: E501  (a message table: one entry per line reads best; CJK counts double)
from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AC_EXISTS",
    "BAD_KIND",
    "BAD_MINUTES",
    "BAD_RULE",
    "BAD_STATS_RANGE",
    "BODY_NOT_JSON",
    "BODY_NOT_OBJECT",
    "BODY_TOO_DEEP",
    "CAMPAIGN_EXISTS",
    "CANNOT_DO",
    "HTML_NOT_RENDERING",
    "INTERNAL",
    "INVALID_INPUT",
    "MOMENT_MISSING",
    "NOT_AN_INTEGER",
    "NOT_A_MAC",
    "NOT_A_MOMENT",
    "NOT_A_PHONE",
    "NOT_BASE64",
    "NOT_FOUND",
    "NO_ASSET",
    "NO_CAMPAIGN",
    "NO_DEFAULT_PLAN",
    "NO_LOG",
    "NO_PAGE",
    "NO_VENUE",
    "NO_VERSION",
    "OTHER_STATUS",
    "OUT_OF_RANGE",
    "PLAN_EXISTS",
    "PLAN_RETIRED",
    "PLAN_SAVED_JOBS_FULL",
    "REASON_REQUIRED",
    "STATUS_TEXTS",
    "TOKEN_INVALID",
    "UNKNOWN_VENUES",
    "VENUE_EXISTS",
    "VENUE_TOKEN",
    "en_zh",
    "field_problems",
    "fill",
    "text_problem",
]

# HTTP status → (error code, zh, en): the answer when a view says nothing more specific.
STATUS_TEXTS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求无效。", "The request is not valid."),
    401: ("unauthorized", "需要有效的 API 令牌（Authorization: Bearer …）。",
          "A valid API token is required (Authorization: Bearer …)."),
    403: ("forbidden", "该令牌的权限不允许此操作。", "This token's scope does not allow this operation."),
    404: ("not_found", "资源不存在。", "No such resource."),
    405: ("method_not_allowed", "不支持该请求方法。", "This method is not allowed here."),
    409: ("conflict", "资源状态冲突。", "The resource is in a conflicting state."),
    413: ("too_large", "请求内容过大。", "The request body is too large."),
    415: ("unsupported_media_type", "请以 JSON 格式发送（Content-Type: application/json）。",
          "Send JSON (Content-Type: application/json)."),
    422: ("unprocessable", "请求无法处理。", "The request could not be processed."),
    429: ("rate_limited", "请求过于频繁。", "Too many requests."),
    503: ("unavailable", "后端服务暂不可用，请稍后重试。", "A backing service is unavailable; try again shortly."),
    507: ("storage_full", "存储空间即将用尽，暂不接受新的场所内容。",
          "Storage is nearly full: new venue content is refused for now."),
}
OTHER_STATUS = ("error", "请求失败。", "Request failed.")

# Tokens and bodies (api_base.py). {exc}: the portal core's own (English) message.
TOKEN_INVALID = ("API 令牌无效、已吊销或已过期。", "The API token is unknown, revoked or expired.")
VENUE_TOKEN = ("场所账号的令牌只能读取其自己场所的报表。", "A venue account's token reads only its own venues' reports.")
BODY_TOO_DEEP = ("请求内容嵌套层级过深。", "The body is nested too deeply.")
BODY_NOT_JSON = ("请求内容不是有效的 JSON。", "The body is not valid JSON.")
BODY_NOT_OBJECT = ("请求内容必须是 JSON 对象。", "The body must be a JSON object.")
NOT_FOUND = ("资源不存在。", "{exc}")
INVALID_INPUT = ("输入无效：{exc}", "{exc}")
CANNOT_DO = ("操作无法完成：{exc}", "{exc}")
INTERNAL = ("内部错误，已记录。", "Internal error; it has been logged.")

# Parameters and fields of the resources (api_<resource>.py).
NOT_A_PHONE = ("{phone!r} 不是有效的手机号", "{phone!r} is not a phone number")
NOT_A_MAC = ("{mac!r} 不是有效的 MAC 地址", "{mac!r} is not a MAC address")
NOT_AN_INTEGER = ("{name} 必须是整数", "{name}: an integer is required")
OUT_OF_RANGE = ("{name} 应在 {low}…{high} 之间", "{name}: expected {low}…{high}")
BAD_MINUTES = ("minutes：应为 1 到 1440 的整数", "minutes: expected an integer from 1 to 1440")
BAD_KIND = ("kind 应为 phone 或 mac", "kind: phone or mac")
REASON_REQUIRED = ("请填写原因", "reason: required")
BAD_RULE = ("规则应为 default、venue:<场所ID>、ssid:<SSID> 或 ac:<AC名称>",
            "rule: 'default', 'venue:<id>', 'ssid:<ssid>' or 'ac:<name>'")
PLAN_EXISTS = ("套餐 {name} 已存在", "a plan named {name!r} already exists")
PLAN_RETIRED = ("套餐 {name} 已停用，不能分配", "plan {name!r} is retired and cannot be assigned")
PLAN_SAVED_JOBS_FULL = ("套餐已保存，但后台任务过多，未能应用到在线会话（仍按原限制运行）。",
                        "The plan was saved, but too many jobs are waiting to apply it to "
                        "online sessions; they keep their previous limits.")
AC_EXISTS = ("AC {name} 已存在", "an AC named {name!r} already exists")
NO_VENUE = ("场所 {venue_id} 不存在。", "No venue {venue_id!r}.")
VENUE_EXISTS = ("场所 {venue_id} 已存在。", "A venue {venue_id!r} exists.")
NO_DEFAULT_PLAN = ("default_plan：套餐不存在（{exc}）", "default_plan: {exc}")
NO_PAGE = ("页面 {page} 不存在。", "No page {page!r} (pages: {pages}).")
NO_VERSION = ("版本 {version} 不存在。", "No version {version}.")
NOT_BASE64 = ("content_base64 不是有效的 base64", "content_base64: not valid base64")
NO_ASSET = ("素材 {name} 不存在。", "No asset {name!r}.")
NO_CAMPAIGN = ("广告活动 {campaign_id} 不存在。", "No campaign {campaign_id!r}.")
CAMPAIGN_EXISTS = ("广告活动 {campaign_id} 已存在。", "Campaign {campaign_id!r} exists.")
UNKNOWN_VENUES = ("场所不存在：{venues}", "no such venue: {venues}")
HTML_NOT_RENDERING = ("HTML 无法渲染：{exc}", "the HTML does not render: {exc}")
BAD_STATS_RANGE = ("start/end 格式为 YYYY-MM-DD，start 不晚于 end，最多 {days} 天。",
                   "start/end: YYYY-MM-DD, start <= end, at most {days} days.")
MOMENT_MISSING = ("缺少 {name}（YYYY-MM-DD、ISO 时间或 epoch 秒）",
                  "{name}: required (YYYY-MM-DD, ISO date-time or epoch seconds)")
NOT_A_MOMENT = ("{name} 不是有效的日期或时间", "{name}: not a date, date-time or epoch: {raw!r}")
NO_LOG = ("没有名为 {stream} 的日志", "unknown log {stream!r}; one of {streams}")


def fill(entry: tuple[str, str], **fields: object) -> tuple[str, str]:
    """(zh, en) of ``entry`` with its named fields filled (an entry without fields is taken as
    it is)."""
    zh, en = entry
    return (zh.format(**fields), en.format(**fields)) if fields else (zh, en)


def en_zh(entry: tuple[str, str], **fields: object) -> tuple[str, str]:
    """``(message, message_zh)``, the order ``ApiError`` and ``body_error`` take, of ``entry``
    with its named fields filled."""
    zh, en = fill(entry, **fields)
    return en, zh


def field_problems(problems: Mapping[str, tuple[str, str]]) -> tuple[str, str]:
    """(zh, en) naming every bad field and what is wrong with it (each problem given in zh, en)."""
    return ("；".join(f"{name}：{zh}" for name, (zh, _en) in problems.items()),
            "; ".join(f"{name}: {en}" for name, (_zh, en) in problems.items()))


def text_problem(where: str, problem_zh: str, problem_en: str) -> tuple[str, str]:
    """(zh, en) of a value that is not text (``portal.text.first_problem``) at ``where``, a
    field's path or portal/text.py's "(a field name)" for an unprintable key."""
    where_zh = "某个字段名" if where == "(a field name)" else f"字段 {where}"
    return f"{where_zh} {problem_zh}", f"{where}: {problem_en}"
