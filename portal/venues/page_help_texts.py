"""What the page editor tells a venue operator about template variables (zh + en).

Audience: the venue operator editing a page template. A catalog like the areas' ``texts.py``
(``portal/venues/texts.py`` holds the venue console's other words, ``ad_pages/texts.py`` the
``t.*`` texts the variables refer to; ``portal/texts.py`` lists every catalog).

The same facts as the variable tables of ``docs/templates.md``, kept as data so the editor can
show them next to the source (a venue operator has the console, not the repository). A test
checks that this table, the documentation and the context the phones really get
(:func:`portal.venues.pages.build_context` + :func:`portal.venues.pages.sample_values`) name the same
variables, so none of the three can drift from the others.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VARIABLES", "Variable", "variables_for"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One template variable: ``name`` as written in a template, on ``pages`` (() = every page)."""

    name: str
    type: str
    zh: str
    en: str
    pages: tuple[str, ...] = ()

    @property
    def top(self) -> str:
        """The context key (``venue`` for ``venue.name``)."""
        return self.name.split(".", 1)[0].split("[", 1)[0]

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


VARIABLES: tuple[Variable, ...] = (
    # -- every page ---------------------------------------------------------------------------
    Variable("lang", "str", "手机的语言：\"zh\" 或 \"en\"（限于场所提供的语言）",
             "the phone's language: \"zh\" or \"en\" (limited to the venue's languages)"),
    Variable("t", "dict", "当前语言的内置文案，如 t.login、t.get_code、t.phone_label、t.terms",
             "the built-in texts in lang, e.g. t.login, t.get_code, t.phone_label, t.terms"),
    Variable("venue.id", "str", "场所编号", "the venue id"),
    Variable("venue.name", "str", "场所名称（当前语言）", "the venue's name in lang"),
    Variable("venue.name_zh", "str", "场所中文名", "the venue's Chinese name"),
    Variable("venue.name_en", "str", "场所英文名", "the venue's English name"),
    Variable("languages", "list", "场所提供的语言", "the languages the venue offers"),
    Variable("asset_base", "str", "/assets/<场所>/ —— 上传素材的地址前缀",
             "/assets/<venue>/ — prefix of your uploaded files"),
    Variable("assets", "dict", "素材文件名 → 带版本的地址，如 {{ assets[\"logo.png\"] }}（推荐）",
             "uploaded file name → versioned URL, e.g. {{ assets[\"logo.png\"] }} (preferred)"),
    Variable("urls.code", "str", "获取验证码表单的提交地址", "where the get-a-code form posts"),
    Variable("urls.login", "str", "登录表单的提交地址", "where the login form posts"),
    Variable("urls.next", "str", "广告页“继续”表单的提交地址", "where the ad page's continue form posts"),
    Variable("urls.logout", "str", "下线表单的提交地址", "where the logout form posts"),
    Variable("lang_url", "str", "切换到另一种语言的同一页面（POST 后的页面为空）",
             "the same page in the other language (\"\" on POSTed pages)"),
    Variable("error", "str", "给用户的错误提示（已是当前语言），无则为空",
             "a message for the user in lang; \"\" when none"),
    Variable("error_code", "str", "错误提示的固定代码", "the message's stable code"),
    Variable("notice", "str", "提示信息（如“验证码已发送”）", "an informational message (e.g. code sent)"),
    Variable("c", "str", "签名的 AC 上下文 —— 每个表单都必须原样带回",
             "the signed AC context — every form must send it back"),
    Variable("phone", "str", "用户输入的号码（登录页）或脱敏号码（状态页）",
             "the number typed (login) or the masked number (status)"),
    Variable("code_sent", "bool", "是否已发送验证码", "an SMS code was sent"),
    Variable("resend_in", "int", "可重新发送前的秒数", "seconds until resending is allowed"),
    Variable("digits", "int", "验证码位数", "length of the SMS code"),
    Variable("wispr", "dict", "WISPr 智能客户端数据（登录页；其他页为空）",
             "WISPr smart-client data (login page; None elsewhere)"),
    Variable("csp_nonce", "str", "本次响应的脚本 nonce（仅在网络运营中心允许本场所脚本时非空；"
             "模板中的内联 <script> 会自动带上它）",
             "this response's script nonce (non-empty only when the NOC allows this venue's scripts; "
             "inline <script> tags in your template carry it automatically)"),
    # -- one page -----------------------------------------------------------------------------
    # success: ``ad`` is None unless the venue shows campaigns there (ads_on_success).
    Variable("ad.id", "str", "广告编号", "the ad's id", ("ad", "success")),
    Variable("ad.title", "str", "广告标题", "the ad's title", ("ad", "success")),
    Variable("ad.text", "str", "广告文字", "the ad's text", ("ad", "success")),
    Variable("ad.image", "str", "广告图片地址", "the ad's image URL", ("ad", "success")),
    Variable("ad.click", "str", "点击计数跳转地址（无点击地址时为空）",
             "the counting click-through link (\"\" without a click URL)", ("ad", "success")),
    Variable("ad.html", "str", "HTML 广告（已在沙箱中渲染；放入 <iframe sandbox srcdoc>）",
             "an HTML creative, sandbox-rendered (put it in <iframe sandbox srcdoc>)", ("ad", "success")),
    Variable("ad.campaign", "str", "广告活动编号（运营商默认广告为空）",
             "the campaign id (\"\" for the operator's default ad)", ("ad", "success")),
    Variable("seconds", "int", "广告倒计时秒数（场所设置）", "the venue's ad countdown in seconds", ("ad",)),
    Variable("ticket", "str", "一次性广告凭证 —— “继续”表单必须带回",
             "the single-use ad ticket — the continue form must send it back", ("ad",)),
    Variable("plan", "str", "套餐名称（当前语言）", "the plan's title in lang", ("success", "status")),
    Variable("redirect_url", "str", "登录后跳转地址（已通过允许列表）或空",
             "the allow-listed post-login URL or \"\"", ("success",)),
    Variable("redirect_host", "str", "跳转地址的主机名", "the host of redirect_url", ("success",)),
    Variable("delay", "int", "跳转前停留秒数", "seconds before redirecting", ("success",)),
    Variable("status_url", "str", "在线状态页地址", "the status page's URL", ("success",)),
    Variable("online", "bool", "是否在线", "the phone is online", ("status",)),
    Variable("time_left", "str", "剩余时长", "time left", ("status",)),
    Variable("data_left", "str", "剩余流量", "data left", ("status",)),
    Variable("rate", "str", "速率", "the rate", ("status",)),
    Variable("devices", "int", "在线设备数", "devices online", ("status",)),
    Variable("max_devices", "int", "最多设备数", "devices allowed", ("status",)),
    Variable("s", "str", "会话凭证 —— 下线表单必须带回",
             "the session token — the logout form must send it back", ("status",)),
    Variable("help", "str", "未在线时：如何重新上网", "when offline: how to get online again", ("status",)),
    Variable("login_url", "str", "未在线时：“登录上网”按钮的地址",
             "when offline: where the \"log in\" button leads", ("status",)),
    Variable("online_elsewhere", "bool", "本浏览器只知此设备在线：显示状态，不显示额度与下线",
             "this browser only knows the device is online: show the state, no figures, no logout",
             ("status",)),
    Variable("retry_url", "str", "重试地址", "where to try again", ("error",)),
)
"""Every documented variable (docs/templates.md, "Variables every page gets" and the page table)."""


def variables_for(page: str) -> list[Variable]:
    """The variables ``page`` gets: the common ones, then the page's own."""
    return [v for v in VARIABLES if not v.pages or page in v.pages]
