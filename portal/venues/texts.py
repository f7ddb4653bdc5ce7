"""What the venue console tells a venue operator (and the NOC) about venue content, zh + en.

Audience: the venue operator — refusals of venue settings, uploads, page templates and campaigns,
and the storage and save-rate quotas; plus the sample values the page editor's preview shows.
Entries are ``(zh, en)`` pairs; a text with parameters is a ``str.format`` template with named
fields (:func:`portal.texts.fill`). Where the project's existing message is ONE bilingual string
("zh / en", raised as a plain ValidationError), the entry stays one string. The template
variables' help is in ``portal/venues/page_help_texts.py``; the campaign form's field errors and
the page checker's words in ``ad_pages/editor_texts.py``; what phones read in
``ad_pages/texts.py`` and ``portal/web/errors.py``.
"""

from __future__ import annotations

__all__ = [
    "AP_GROUP_INVALID", "ASSET_ERRORS", "CLICK_URL_ALL_VENUES", "CLICK_URL_VENUES", "EMPTY_TEMPLATE",
    "PAGE_KINDS", "PAGE_LINE", "PAGE_REFUSED", "PER_HOUR", "PER_MINUTE", "QUOTAS", "SAMPLE_ERROR",
    "SAMPLE_PLAN", "SETTINGS_ERRORS", "VENUE_ID_CONSOLE", "VENUE_ID_FALLBACK",
]

# --- venue records and settings (portal.venues.venue_store) ------------------------------------

VENUE_ID_CONSOLE = ("场所编号“{id}”为控制台保留路径，请换一个 / venue id {id!r} is reserved "
                    "(/venue/{path} is a console page); choose another")
VENUE_ID_FALLBACK = ("场所编号“{id}”为系统保留，请换一个 / venue id {id!r} "
                     "is reserved for phones no venue claims; choose another")
AP_GROUP_INVALID = ("场所 {venue}：AP 组名 {group!r} 无效（1-64 个字符，不含逗号和控制字符）/ "
                    "venue {venue}: ap_groups: AP group {group!r} must be 1-64 "
                    "characters without commas or control characters")

# A venue setting refused (VenueSettingsError), by reason.
SETTINGS_ERRORS: dict[str, tuple[str, str]] = {
    "noc_only": ("该项只能由网络运营中心修改", "only the NOC may change this"),
    "unknown_field": ("未知字段", "unknown field"),
    "too_long": ("内容过长", "too long"),
    "control_chars": ("包含控制字符", "contains control characters"),
    "whole_number": ("请输入整数", "a whole number is required"),
    "list_too_long": ("列表过长", "list too long"),
    "bad_host": ("“{bad}”不是主机名（例如 www.example.cn，或 .example.cn 表示其子域名；"
                 "不含端口、路径或 *）",
                 "'{bad}' is not a host name (e.g. www.example.cn, or .example.cn for its "
                 "subdomains; no port, path or *)"),
    "redirect_not_allowed": ("跳转地址不在允许列表中（须为 http/https，且主机在允许列表内）",
                             "the post-login URL is not on the allow-list (http/https to an allowed host)"),
    "no_language": ("至少选择一种语言", "choose at least one language"),
    "invalid": ("无效：{error}", "{error}"),
}

# --- uploads (portal.venues.venue_assets) -------------------------------------------------------

ASSET_ERRORS: dict[str, tuple[str, str]] = {
    "name_length": ("文件名为空或过长", "file name empty or too long"),
    "name_unsafe_chars": ("文件名不安全（路径、控制字符或不可见字符）",
                          "unsafe file name (path, control or invisible characters)"),
    "no_extension": ("文件名缺少扩展名", "file name has no extension"),
    "bad_type": ("不支持的文件类型 .{ext}（支持 {kinds}）",
                 "file type .{ext} not allowed (allowed: {kinds})"),
    "name_unsafe": ("文件名不安全", "unsafe file name"),
    "empty": ("文件为空", "the file is empty"),
    "too_large": ("文件过大：{size} 字节，{category} 上限 {limit} 字节",
                  "file too large: {size} bytes, {category} limit {limit} bytes"),
    "content_mismatch": ("文件内容与类型 .{ext} 不符", "file content does not match its type .{ext}"),
    "count": ("素材数量已达上限 {limit}", "asset count limit {limit} reached"),
    "account_bytes": ("您的场所素材总量将超出账号上限 {limit} 字节",
                      "the assets of your venues would exceed your account's limit of {limit} bytes"),
    "venue_bytes": ("场所素材总量超出上限 {limit} 字节",
                    "venue assets would total {total} bytes (limit {limit})"),
}

# --- quotas (portal.venues.content_quotas, campaign_store, pages) -------------------------------

# {campaigns} is the English "1 campaign" / "3 campaigns"; {limit} the bare number.
QUOTAS: dict[str, tuple[str, str]] = {
    "account_count": ("广告活动数量已达账号上限 {limit} 个，请先删除旧的活动。",
                      "This account already has {campaigns} (its limit); delete old ones first."),
    "account_bytes": ("该账号的广告活动总大小将超出上限 {size}。",
                      "This account's campaigns would exceed their size limit of {size}."),
    "venue_count": ("场所 {venue} 的广告活动已达上限 {limit} 个。",
                    "Venue {venue} already has {campaigns} (its limit)."),
    "page_history": ("页面历史版本占用的空间已达上限，无法发布。请联系运维人员。",
                     "The page history has no room left for this version (quota); contact the NOC."),
    "storage_full": ("存储空间即将用尽（已用 {used}，上限 {limit}），暂不能保存新的场所内容。"
                     "删除旧的广告活动或素材，或联系运维人员。",
                     "Storage is nearly full ({used} of {limit} used): new venue content cannot be "
                     "saved now. Delete old campaigns or assets, or contact the NOC."),
    "rate_limited": ("保存过于频繁：每个账号每{per}最多保存 {limit} 次场所内容"
                     "（页面、广告活动、素材、设置），请 {retry_after} 秒后再试。删除不受此限制。",
                     "Too many saves: one account may save venue content (pages, campaigns, assets, "
                     "settings) at most {limit} times per {per}; try again in {retry_after} s. "
                     "Deleting is not limited."),
}
PER_MINUTE = ("分钟", "minute")
PER_HOUR = ("小时", "hour")

# A campaign's click-through URL refused (portal.venues.campaign_store.click_url_refusal).
CLICK_URL_ALL_VENUES = ("面向所有场所的广告，点击地址的主机须在运营商允许列表中（{listed}）",
                        "a campaign for every venue may only link to the operator's allowed hosts ({listed})")
CLICK_URL_VENUES = ("点击地址的主机不在场所 {venues} 的允许列表中（允许：{listed}）",
                    "the click-through host is not on the allow-list of venue {venues} (allowed: {listed})")

# --- page templates (portal.venues.pages) -------------------------------------------------------

PAGE_KINDS: dict[str, tuple[str, str]] = {
    "syntax": ("语法错误", "syntax error"), "security": ("不允许的操作", "not allowed"),
    "limit": ("超出限制", "over the limits"), "runtime": ("运行错误", "runtime error"),
    "empty": ("内容为空", "empty"),
    "incomplete": ("缺少必需的表单", "a required form is missing"),
}
PAGE_LINE = ("第 {line} 行", " on line {line}")
PAGE_REFUSED = ("模板未发布（{where}{kind}）：{reason}", "Template refused ({kind}{where}): {reason}")
EMPTY_TEMPLATE = "the template is empty / 模板为空"
# What the editor's preview shows for a live value (a plan title, the error of a wrong code).
SAMPLE_PLAN = ("免费体验", "Free trial")
SAMPLE_ERROR = ("验证码错误，请重新输入。", "Wrong code, please try again.")
