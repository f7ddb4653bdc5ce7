"""Words of the consoles' shared chrome, in Simplified Chinese and English: what every console
reader (NOC operator, venue operator, administrator) meets whatever page they are on — sign-in,
own password, accounts, the navigation bar, error pages, names of stored identifiers, the
reports page, the API-token pages both consoles have — and the two refusals of ``/metrics``
(read by whoever sets up monitoring).

Entries are ``(zh, en)`` pairs; views show one with ``tr(*ENTRY)``. A text with values in it is a
small function returning the pair. The other catalogs: ``portal/web/noc/texts.py`` (NOC pages),
``portal/web/venue/texts.py`` (venue pages), ``portal/web/errors.py`` (what the phone user reads
when something fails), ``ad_pages/texts.py`` (the phone pages' words).
"""

from __future__ import annotations

from portal.web.i18n import count_en

__all__ = [
    "ACCOUNT_NOT_CREATED", "BAD_CREDENTIALS", "BREAKDOWN_TITLES", "CSRF_REFUSED", "ERROR_PAGES",
    "INTERNAL_ERROR", "LOGIN_KIND_NAMES", "METRICS_LOCAL_ONLY", "METRICS_TOKEN_REQUIRED", "NAV_LABELS",
    "NOT_SAVED", "NO_SUCH_TOKEN", "PASSWORDS_DIFFER", "PASSWORD_CHANGED", "PASSWORD_RESET",
    "REPORT_CHART_TITLES", "ROLE_NAMES", "SAVED", "SCOPE_NAMES", "TOKEN_EXPIRY_PAST", "TOKEN_LABELS",
    "WEAK_PASSWORD", "WRONG_CURRENT_PASSWORD", "account_created", "account_deleted", "account_locked",
    "bad_report_date", "form_field_refused", "token_revoked",
]

# -- stored identifiers, named: an operator reads "场所运营者", not "venue" ----------------------------

ROLE_NAMES = {"admin": ("管理员", "Administrator"), "noc": ("网络运维（NOC）", "NOC operator"),
              "venue": ("场所运营者", "Venue operator")}
SCOPE_NAMES = {"read": ("只读", "read"), "write": ("读写", "write"), "admin": ("管理", "admin"),
               "export": ("导出", "export")}
# How a phone logged in (portal.legal.reallog LoginRecord.kind; the dashboard's series use the same words).
LOGIN_KIND_NAMES = {"sms": ("短信登录", "SMS code"), "returning": ("回访登录", "Returning"),
                    "silent": ("无感登录", "Silent (MAC)")}

# The navigation bar, by endpoint (who sees which link: portal/web/console_helpers.py).
NAV_LABELS = {
    "noc_dashboard.dashboard": ("运行监控", "Dashboard"),
    "noc_sessions.index": ("在线用户", "Online"),
    "noc_users.index": ("用户", "Users"),
    "noc_plans.index": ("套餐", "Plans"),
    "noc_acs.index": ("AC 设备", "ACs"),
    "noc_blocklist.index": ("黑名单", "Blocklist"),
    "noc_logs.index": ("实名日志", "Logs"),
    "venue_console.index": ("场所", "Venues"),
    "venue_campaigns.index": ("广告活动", "Campaigns"),
    "reports.index": ("统计报表", "Reports"),
    "console.users": ("账号", "Accounts"),
    "noc_tokens.index": ("API 令牌", "API tokens"),
    "venue_tokens.index": ("API 令牌", "API tokens"),
    "console.audit_log": ("审计日志", "Audit log"),
}

# -- refusals before any view runs (plain text, both languages on separate lines) --------------------

CSRF_REFUSED = ("请求已过期或来源不明，请刷新页面后重试。",
                "The form expired or did not come from this site; reload the page and try again.")


def form_field_refused(where: str, zh: str, en: str) -> tuple[str, str]:
    """A submitted field that is not text (``portal.text.first_problem``: ``zh``/``en`` say why)."""
    return (f"表单字段 {where} {zh}，请修改后重试。",
            f"The form field {where} {en}; correct it and try again.")


# -- the error page, by HTTP status -------------------------------------------------------------------

ERROR_PAGES = {
    400: ("请求无效，请检查后重试。", "The request is not valid; check it and try again."),
    403: ("您没有权限访问此页面。", "You may not open this page."),
    404: ("页面不存在。", "There is no such page."),
    405: ("不支持该操作。", "This action is not allowed here."),
    413: ("提交的内容太大。", "What you sent is too large."),
    429: ("操作太频繁，请稍后再试。", "Too many requests; try again shortly."),
    503: ("数据服务暂不可用，请稍后重试。", "The data service is unavailable; try again shortly."),
}
INTERNAL_ERROR = ("服务器内部错误，已记录。", "Internal error; it has been logged.")

# -- sign-in and own password ---------------------------------------------------------------------------


def account_locked(minutes: int) -> tuple[str, str]:
    return (f"登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试。",
            f"Too many failed sign-ins; the account is locked for {count_en(minutes, 'minute')}.")


BAD_CREDENTIALS = ("用户名或密码错误。", "Wrong username or password.")
PASSWORDS_DIFFER = ("两次输入的新密码不一致。", "The two new passwords differ.")
WRONG_CURRENT_PASSWORD = ("当前密码错误。", "The current password is wrong.")
# The store's reason (English) follows in parentheses.
WEAK_PASSWORD = ("新密码不符合要求：至少 10 个字符，不含用户名，不能过于简单。",
                 "The new password is too weak: at least 10 characters, not containing the "
                 "username, not repetitive.")
PASSWORD_CHANGED = ("密码已修改，其他设备上的登录已退出。",
                    "Password changed; sign-ins on other devices were ended.")

# -- administrators: accounts (prefixes are followed by the store's reason, in English) -----------------

ACCOUNT_NOT_CREATED = ("无法创建账号：", "Account not created: ")
NOT_SAVED = ("未保存：", "Not saved: ")
SAVED = ("已保存。", "Saved.")
PASSWORD_RESET = ("密码已重置。", "Password reset.")


def account_created(username: str) -> tuple[str, str]:
    return f"账号 {username} 已创建。", f"Account {username} created."


def account_deleted(username: str) -> tuple[str, str]:
    return f"账号 {username} 已删除。", f"Account {username} deleted."


# -- API tokens (the NOC's and the venue console's token pages) -------------------------------------------

TOKEN_LABELS = {"name": ("名称", "Name"), "expires": ("到期日期", "Expires")}
TOKEN_EXPIRY_PAST = ("到期日期必须晚于今天。", "The expiry date must be in the future.")
NO_SUCH_TOKEN = ("令牌不存在。", "There is no such token.")


def token_revoked(name: str) -> tuple[str, str]:
    return f"令牌 {name} 已吊销。", f"Token {name} revoked."


# -- the reports page (portal/web/reports_page.py) -----------------------------------------------------

REPORT_CHART_TITLES = {"logins": ("每日登录次数", "Logins per day"),
                       "traffic": ("每日流量（GB）", "Traffic per day (GB)"),
                       "minutes": ("每日在线分钟", "Online minutes per day")}
BREAKDOWN_TITLES = {"venue": ("各场所登录", "Logins by venue"), "ac": ("各 AC 登录", "Logins by AC"),
                    "ssid": ("各 SSID 登录", "Logins by SSID")}


def bad_report_date(name: str) -> tuple[str, str]:
    """A date argument (``day``, ``from``, ``to``) that is not YYYY-MM-DD."""
    return f"{name}：日期格式应为 YYYY-MM-DD", f"{name}: expected YYYY-MM-DD"


# -- /metrics refusals (portal/web/ops.py; one line, English first: read by scrapers' logs) -----------------

METRICS_TOKEN_REQUIRED = ("需要监控令牌", "metrics token required")
METRICS_LOCAL_ONLY = ("监控数据仅限本机访问，或设置 metrics.web_token",
                      "metrics: this machine only, or set metrics.web_token")
