"""Words of the NOC console pages, in Simplified Chinese and English: what a NOC operator reads on
the dashboard, the session, user, plan, AC, blocklist, log-export and job pages, and the form
refusals of every resource form (:mod:`portal.web.noc.noc_forms`, also used by the venue
console's token page).

Entries are ``(zh, en)`` pairs: views show one with ``tr(*ENTRY)``, a form refusal is
``FormError(*ENTRY)``. A text with values in it is a small function returning the pair; a form
field's ``label`` is itself a pair. The other catalogs: ``portal/web/console_texts.py`` (what
both consoles share: sign-in, navigation, error pages, API-token pages),
``portal/web/venue/texts.py`` (venue pages), ``portal/web/errors.py`` (what the phone user
reads when something fails), ``ad_pages/texts.py`` (the phone pages' words).
"""

from __future__ import annotations

from portal.web.i18n import count_en

__all__ = [
    "AC_LABELS", "BLOCK_LABELS", "BOTH_DATES", "CANNOT_CHANGE_PLAN", "CHOOSE_BLOCK_KIND", "CHOOSE_DIALECT",
    "CHOOSE_EXISTING_PLAN", "CHOOSE_GATEWAY_KIND", "CHOOSE_LOG", "CHOOSE_ROTATE", "CHOOSE_RULE_SCOPE",
    "CHOOSE_TOKEN_SCOPE", "CHOOSE_VENDOR", "DM_VIA_PROXY_NEEDS_VIA", "DURATION_TOO_LONG", "FASKEY_FORMAT",
    "INVALID_INPUT", "INVALID_SEARCH", "JOBS_FULL", "KICK_NOTHING", "LOG_LABELS", "MAC_NOT_BOUND",
    "MA_MODE_INVALID", "NOT_A_PHONE", "NO_ADDRESS", "NO_SUCH_AC", "NO_SUCH_JOB", "NO_SUCH_PLAN",
    "NO_SUCH_RULE", "OPENNDS_NEEDS_FASKEY", "PLAN_JOBS_FULL", "PLAN_LABELS",
    "PROXY_BEHIND_PROXY", "REJECT_REASONS", "RETRIES_TOO_MANY", "RULE_KEY_MISSING", "RULE_KEY_TOO_LONG",
    "SCOPE_LABELS", "SECRET_FORMAT", "SESSION_GONE", "STREAM_LABELS", "TIMEOUT_NOT_NUMBER", "TIMEOUT_RANGE",
    "ac_disabled", "ac_enabled", "ac_exists", "ac_saved", "bad_date", "blocked", "field_required",
    "field_too_long", "kicked", "mac_unbound", "no_online_session", "not_a_number", "not_blocked",
    "number_below", "number_expected", "number_not_positive", "number_too_large", "plan_created",
    "plan_exists", "plan_restored", "plan_retired", "plan_retired_not_assignable", "plan_saved_applying",
    "plan_saved_for_next_login", "plan_saved_not_applied", "port_out_of_range", "proxy_still_used",
    "redirect_key_length", "rule_removed", "rule_saved", "too_many_portal_sources", "unblocked",
    "via_not_a_proxy",
]

Label = tuple[str, str]

# -- form fields (portal/web/noc/noc_forms.py): ``label`` names the field --------------------------------

INVALID_INPUT = ("输入无效：", "Invalid input: ")       # followed by the store's reason, in English


def field_required(label: Label) -> tuple[str, str]:
    return f"请填写“{label[0]}”。", f"{label[1]} is required."


def field_too_long(label: Label, max_len: int) -> tuple[str, str]:
    return f"“{label[0]}”不能超过 {max_len} 个字符。", f"{label[1]} must be at most {max_len} characters."


def number_expected(label: Label) -> tuple[str, str]:
    return (f"“{label[0]}”必须是数字（留空表示不限）。",
            f"{label[1]} must be a number (leave empty for no limit).")


def not_a_number(label: Label) -> tuple[str, str]:
    return f"“{label[0]}”必须是数字。", f"{label[1]} must be a number."


def number_not_positive(label: Label) -> tuple[str, str]:
    return (f"“{label[0]}”必须大于 0（留空表示不限）。",
            f"{label[1]} must be greater than 0 (leave empty for no limit).")


def number_below(label: Label, minimum: float) -> tuple[str, str]:
    return f"“{label[0]}”不能小于 {minimum:g}。", f"{label[1]} must be at least {minimum:g}."


def number_too_large(label: Label) -> tuple[str, str]:
    return f"“{label[0]}”过大。", f"{label[1]} is too large."


def bad_date(label: Label) -> tuple[str, str]:
    return f"“{label[0]}”不是有效日期（YYYY-MM-DD）。", f"{label[1]} is not a valid date (YYYY-MM-DD)."


# Shared by several pages.
JOBS_FULL = ("后台任务过多，请稍后重试。", "Too many background jobs are waiting; try again shortly.")
NOT_A_PHONE = ("手机号无效。", "Not a phone number.")

# -- the dashboard (portal/web/noc/noc_dashboard.py) ------------------------------------------------------

# RADIUS reject reasons (the ``reject:<reason>`` figures: radius/auth_replies.py and
# portal.aaa.grants.REFUSAL_MESSAGES) as the reject chart names them; an unknown reason keeps its id.
REJECT_REASONS: dict[str, tuple[str, str]] = {
    "invalid_credential": ("凭证无效或过期", "Invalid or expired credential"),
    "reused_credential": ("凭证重复使用", "Credential reused"),
    "blocked": ("黑名单", "Blocked"),
    "device_mismatch": ("设备不符", "Device mismatch"),
    "unsupported_method": ("认证方式不支持", "Unsupported method"),
    "expired": ("套餐过期", "Plan expired"),
    "daily_time_used": ("当日时长用完", "Daily time used up"),
    "total_time_used": ("总时长用完", "Total time used up"),
    "daily_volume_used": ("当日流量用完", "Daily data used up"),
    "total_volume_used": ("总流量用完", "Total data used up"),
    "too_many_devices": ("设备数已满", "Too many devices"),
    "no_plan": ("无可用套餐", "No plan"),
    "unspecified": ("未说明", "Unspecified"),
}

# -- online sessions, users, kick jobs (noc_sessions.py, noc_users.py, noc_jobs.py) ----------------------

INVALID_SEARCH = ("搜索条件无效：", "Invalid search: ")   # followed by the reason, in English
SESSION_GONE = ("该会话已不在线。", "That session is no longer online.")
CANNOT_CHANGE_PLAN = ("无法更改套餐：", "Cannot change the plan: ")   # followed by the reason
MAC_NOT_BOUND = ("该设备未绑定此手机号。", "That device is not bound to this phone.")
KICK_NOTHING = ("会话已不在线，无需下线。", "The session was no longer online; nothing to do.")
NO_SUCH_JOB = ("任务不存在或已过期。", "There is no such job (or it expired).")


def no_online_session(phone: str) -> tuple[str, str]:
    return f"{phone} 当前没有在线会话。", f"{phone} has no online session."


def mac_unbound(mac: str) -> tuple[str, str]:
    return f"已解绑设备 {mac}", f"Device {mac} unbound"


def kicked(ok: int, total: int) -> tuple[str, str]:
    """A kick job's outcome: ``ok`` of ``total`` sessions taken offline."""
    return f"{total} 个会话中 {ok} 个已下线。", f"{ok} of {count_en(total, 'session')} taken offline."


# -- plans and their rules (portal/web/noc/noc_plans.py) --------------------------------------------------

PLAN_LABELS = {"name": ("套餐代码", "Plan code"), "title_zh": ("中文名称", "Chinese title"),
               "title_en": ("英文名称", "English title"), "valid_until": ("截止日期", "Valid until")}
# What a rule applies to (portal.aaa.plans.RULE_SCOPES).
SCOPE_LABELS = {"venue": ("场所", "Venue"), "ssid": ("SSID", "SSID"), "ac": ("AC", "AC"),
                "default": ("全局默认", "Global default")}
CHOOSE_RULE_SCOPE = ("请选择规则类型。", "Choose what the rule applies to.")
RULE_KEY_MISSING = ("请填写场所 / SSID / AC 名称。", "Enter the venue / SSID / AC name.")
RULE_KEY_TOO_LONG = ("名称不能超过 64 个字符。", "The name must be at most 64 characters.")
NO_SUCH_PLAN = ("套餐不存在。", "There is no such plan.")
PLAN_JOBS_FULL = ("后台任务过多，套餐未保存，请稍后重试。",
                  "Too many background jobs are waiting; the plan was not saved. Try again shortly.")
CHOOSE_EXISTING_PLAN = ("请选择一个存在的套餐。", "Choose an existing plan.")
NO_SUCH_RULE = ("规则不存在。", "There is no such rule.")


def plan_exists(name: str) -> tuple[str, str]:
    return f"套餐 {name} 已存在。", f"A plan named {name} already exists."


def plan_created(name: str) -> tuple[str, str]:
    return f"套餐 {name} 已创建。", f"Plan {name} created."


def plan_saved_for_next_login(name: str) -> tuple[str, str]:
    """Saved, and nothing an online session is held to changed."""
    return (f"套餐 {name} 已保存（名称、同时在线设备数和免短信天数在下次登录时生效）。",
            f"Plan {name} saved (titles, concurrent devices and device memory apply at the "
            f"next login).")


def plan_saved_not_applied(name: str) -> tuple[str, str]:
    return (f"套餐 {name} 已保存，但后台任务过多，未能应用到在线会话：在线会话仍按原限制运行，"
            f"请稍后在“在线用户”中处理。",
            f"Plan {name} saved, but too many background jobs are waiting: online "
            f"sessions still run with their previous limits.")


def plan_saved_applying(name: str, online: int) -> tuple[str, str]:
    return (f"套餐 {name} 已保存，正在应用到约 {online} 个在线会话：AC 支持 CoA 的立即获得新限制，"
            f"已超出新限制的将下线，AC 不支持 CoA 的保持原限制直到下线。",
            f"Plan {name} saved and being applied to about {online} online sessions: "
            f"those whose AC takes a CoA get the new limits now, those already past them are "
            f"disconnected, and those whose AC takes no CoA keep their previous limits until "
            f"they end.")


def plan_retired(name: str) -> tuple[str, str]:
    return (f"套餐 {name} 已停用：新登录不再使用它（指向它的规则改用下一条规则），在线会话不受影响。",
            f"Plan {name} retired: new logins no longer get it (rules pointing at it fall "
            f"through to the next rule); online sessions are not affected.")


def plan_restored(name: str) -> tuple[str, str]:
    return f"套餐 {name} 已恢复。", f"Plan {name} restored."


def plan_retired_not_assignable(name: str) -> tuple[str, str]:
    return f"套餐 {name} 已停用，不能分配。", f"Plan {name} is retired and cannot be assigned."


def rule_saved(field: str, plan: str) -> tuple[str, str]:
    return f"规则已保存：{field} → {plan}", f"Rule saved: {field} → {plan}"


def rule_removed(field: str) -> tuple[str, str]:
    return f"规则 {field} 已删除。", f"Rule {field} removed."


# -- access controllers (portal/web/noc/noc_acs.py) -----------------------------------------------------

AC_LABELS = {"name": ("AC 名称", "AC name"), "port": ("Portal 端口", "Portal port"),
             "coa_port": ("CoA 端口", "CoA port"), "retries": ("重试次数", "Retries"),
             "bas_ip": ("BAS-IP", "BAS-IP"), "description": ("备注", "Description")}
SECRET_FORMAT = ("密钥须为 8–64 个可见 ASCII 字符（不含空格）。",
                 "A secret is 8-64 visible ASCII characters (no spaces).")
DM_VIA_PROXY_NEEDS_VIA = ("经代理下发 DM/CoA 须先选择所经由的 RADIUS 代理。",
                          "Disconnect/CoA through the proxy needs radius_via (the proxy to go through).")
CHOOSE_ROTATE = ("请选择要更换的密钥。", "Choose which secret to rotate.")
NO_ADDRESS = ("请至少填写一个源地址。", "Enter at least one source address.")
CHOOSE_VENDOR = ("请选择厂商协议类型。", "Choose a vendor profile.")
CHOOSE_DIALECT = ("请选择 RADIUS 限速属性类型。", "Choose a RADIUS dialect.")
MA_MODE_INVALID = ("Message-Authenticator 设置须为 自动/是/否 或按全局设置。",
                   "Message-Authenticator settings are auto, yes, no or the global setting.")
TIMEOUT_NOT_NUMBER = ("超时须为秒数。", "Timeout must be a number of seconds.")
TIMEOUT_RANGE = ("超时须在 0–60 秒之间（0 = 默认）。", "Timeout must be 0-60 s (0 = default).")
RETRIES_TOO_MANY = ("重试次数不能超过 10。", "Retries must be at most 10.")
CHOOSE_GATEWAY_KIND = ("请选择网关类型。", "Choose a gateway kind.")
FASKEY_FORMAT = ("FAS 密钥须为 8–128 个字母或数字。", "The faskey is 8-128 letters and digits.")
OPENNDS_NEEDS_FASKEY = ("openNDS 网关须填写 FAS 密钥（faskey）。", "An openNDS gateway needs its faskey.")
PROXY_BEHIND_PROXY = ("RADIUS 代理本身不能再经由另一个代理。",
                      "A RADIUS proxy cannot itself sit behind another proxy.")
NO_SUCH_AC = ("AC 不存在。", "There is no such AC.")


def via_not_a_proxy(via: str) -> tuple[str, str]:
    return (f"“经由 RADIUS 代理”须为已登记为 RADIUS 代理的另一条记录，{via} 不是。",
            f"radius_via must name another record registered as a RADIUS proxy; "
            f"{via} is not one.")


def proxy_still_used(names: str) -> tuple[str, str]:
    """``names``: the ACs (comma-separated) that still go through the proxy."""
    return (f"以下 AC 仍经由此代理，不能取消其代理身份：{names}",
            f"These ACs still sit behind this proxy, so it must stay one: {names}")


def too_many_portal_sources(limit: int) -> tuple[str, str]:
    return f"Portal 报文源地址最多 {limit} 个。", f"At most {limit} portal packet sources."


def port_out_of_range(label: Label) -> tuple[str, str]:
    return f"“{label[0]}”须在 1–65535 之间。", f"{label[1]} must be 1-65535."


def redirect_key_length(length: int) -> tuple[str, str]:
    return (f"跳转参数密钥须为 {length} 个字符（AC 的 DES 密钥）。",
            f"The redirect key is {length} characters (the AC's DES key).")


def ac_exists(name: str) -> tuple[str, str]:
    return f"AC {name} 已存在。", f"An AC named {name} already exists."


def ac_saved(name: str) -> tuple[str, str]:
    return f"AC {name} 已保存（数秒内生效）。", f"AC {name} saved (applies within seconds)."


def ac_enabled(name: str) -> tuple[str, str]:
    return f"AC {name} 已启用。", f"AC {name} enabled."


def ac_disabled(name: str) -> tuple[str, str]:
    return (f"AC {name} 已停用：其 RADIUS 与 Portal 报文将被丢弃。",
            f"AC {name} disabled: its RADIUS and portal packets are dropped.")


# -- the blocklist (portal/web/noc/noc_blocklist.py) ----------------------------------------------------

BLOCK_LABELS = {"value": ("手机号 / MAC", "Phone / MAC"), "reason": ("原因", "Reason"),
                "duration": ("期限", "Duration")}
CHOOSE_BLOCK_KIND = ("请选择手机号或 MAC。", "Choose phone or MAC.")
DURATION_TOO_LONG = ("期限过长；永久封禁请留空。", "Duration too long; leave it empty to block forever.")


def blocked(value: str) -> tuple[str, str]:
    return f"已封禁 {value}。", f"{value} blocked."


def unblocked(value: str) -> tuple[str, str]:
    return f"已解除封禁 {value}。", f"{value} unblocked."


def not_blocked(value: str) -> tuple[str, str]:
    return f"{value} 不在黑名单中。", f"{value} is not blocked."


# -- legal-log export (portal/web/noc/noc_logs.py) -------------------------------------------------------

STREAM_LABELS = {"realname": ("实名上网日志", "Real-name log"), "accounting": ("计费日志", "Accounting log"),
                 "audit": ("操作审计日志", "Audit log")}
LOG_LABELS = {"from": ("开始日期", "From"), "to": ("结束日期", "To")}
CHOOSE_LOG = ("请选择日志类型。", "Choose a log.")
BOTH_DATES = ("请填写开始和结束日期。", "Enter both dates.")

# -- API tokens (portal/web/noc/noc_tokens.py; the words both token pages share: console_texts) --------

CHOOSE_TOKEN_SCOPE = ("请选择权限（只读、读写、管理或导出）。",
                      "Choose a scope (read, write, admin or export).")
