"""Words for the venue operator who edits campaigns and page templates (zh + en).

Audience: the venue operator (and the NOC) in the console — why a campaign form was refused and
what a page template lacks before it may be published. Entries are ``(zh, en)`` pairs; a text
with parameters is a ``str.format`` template with named fields. The other catalogs: what phones
read in ``ad_pages/texts.py``, the login page's error codes in ``portal/web/errors.py``, the
venue console's own words in ``portal/venues/texts.py``.
"""

from __future__ import annotations

__all__ = [
    "CAMPAIGN_ERRORS", "ECHO_FIELD", "FIELD_LIST", "FORM_NAMES", "MISSING", "MISSING_FORM",
    "MISSING_HIDDEN", "PAGE_NAMES", "PART_LIST",
]

# ad_pages.campaigns.parse_campaign: what is wrong with one field of the campaign form.
CAMPAIGN_ERRORS: dict[str, tuple[str, str]] = {
    "whole_number": ("请输入 {lo}–{hi} 之间的整数", "enter a whole number from {lo} to {hi}"),
    "date": ("日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD"),
    "bad_name": ("名称过长或含有控制字符", "a name is too long or has control characters"),
    "too_many_names": ("最多 200 项", "at most 200 entries"),
    "id": ("编号须为 1–48 个字母、数字、'_' 或 '-'", "id: 1-48 letters, digits, '_' or '-'"),
    "name": ("请填写名称（最多 100 字）", "enter a name (at most 100 characters)"),
    "creative_shape": ("创意格式错误", "creative must be an object"),
    "creative_kind": ("创意类型须为图片或 HTML", "creative kind must be image or html"),
    "image_missing": ("请填写图片地址", "enter the image address"),
    "image_host": ("图片须为本站地址（/assets/…）或 data:image URI",
                   "the image must be on our host (/assets/…) or a data:image URI"),
    "html_missing": ("请填写 HTML 内容", "enter the HTML"),
    "html_long": ("HTML 不能超过 {limit} 字符", "HTML is limited to {limit} characters"),
    "click_url": ("点击地址须为 http(s) 网址", "the click-through address must be an http(s) URL"),
    "title_long": ("标题最多 100 字，文字最多 300 字", "title at most 100, text at most 300 characters"),
    "end_before_start": ("结束日期早于开始日期", "the end date is before the start date"),
    "hours": ("时段格式如 09:00-12:00, 14:00-18:00", "hours look like 09:00-12:00, 14:00-18:00"),
}

# ad_pages.forms: the submissions a page must keep, and what the page checker says is missing.
FORM_NAMES: dict[str, tuple[str, str]] = {
    "code": ("获取验证码的表单", "the form that asks for a code"),
    "login": ("登录表单", "the login form"),
    "continue": ("继续上网的表单", "the continue form"),
}
PAGE_NAMES: dict[str, tuple[str, str]] = {"login": ("登录页", "login page"), "ad": ("广告页", "ad page")}
MISSING_HIDDEN = ("手机上看得到的{form}（页面中的该表单被 {hidden} 隐藏——作用于表单、"
                  "其中的输入框或其外层元素，手机看不到也无法提交）",
                  "{form} where phones can see it (the page's one is hidden by {hidden} "
                  "on the form, one of its fields or an element around it: phones can neither "
                  "see nor submit it)")
MISSING_FORM = ("{form}（以 POST 提交到 {url}，包含字段 {fields}）",
                "{form} (a POST to {url} with the fields {fields})")
# A field the form must echo: "{{ name }}" is the Jinja expression the template writes.
ECHO_FIELD = ("{name}（值为 {{{{ {name} }}}}）", "{name} (set to {{{{ {name} }}}})")
FIELD_LIST = ("、", ", ")
PART_LIST = ("；", " and ")
MISSING = ("{page}缺少{parts}。缺少它，本场所的手机无法上网。",
           "the {page} is missing {parts}; without it, phones at this venue cannot get online.")
