"""Words of the venue console pages, in Simplified Chinese and English: what a venue operator (and
the NOC looking over their shoulder) reads on the venue settings, page editor, assets and ad
campaign pages, and the render-limit refusal (also the JSON API's ``rate_limited`` message for
previews).

Entries are ``(zh, en)`` pairs; views show one with ``tr(*ENTRY)``. A text with values in it is a
small function returning the pair. The other catalogs: ``portal/web/console_texts.py`` (what both
consoles share: sign-in, navigation, error pages, API-token pages), ``portal/web/noc/texts.py``
(NOC pages and the resource forms' refusals), ``portal/web/errors.py`` (what the phone user reads
when something fails), ``ad_pages/texts.py`` (the phone pages' words). Refusals raised below the
web layer carry their own words (``portal/venues``: quotas, pages, assets, settings).
"""

from __future__ import annotations

__all__ = [
    "CAMPAIGN_CREATED", "CAMPAIGN_DELETED", "CAMPAIGN_PAUSED", "CAMPAIGN_RESUMED", "CAMPAIGN_SAVED",
    "CHOOSE_FILE", "CHOOSE_OWN_VENUE", "DEFAULT_PAGE_BACK", "DRAFT_SAVED", "OWN_ASSETS_ONLY",
    "OWN_VENUES_ONLY", "PAGE_TITLES", "PUBLISH_REFUSED", "RENDER_BUSY", "SETTINGS_SAVED", "STATS_BAD_DATE",
    "STATS_CSV_HEADER", "STATS_SERIES", "VENUE_CREATED", "VENUE_EXISTS", "asset_deleted", "asset_uploaded",
    "html_does_not_render", "no_such_plan", "no_such_venues", "published", "rolled_back", "stats_range",
]

# -- venue settings and pages (portal/web/venue/venue_console.py) ----------------------------------

PAGE_TITLES = {"login": ("登录页", "Login page"), "success": ("成功页", "Success page"),
               "ad": ("广告页", "Ad page"), "status": ("状态页", "Status page"),
               "error": ("错误页", "Error page")}
VENUE_EXISTS = ("该场所编号已存在", "a venue with this id exists")
VENUE_CREATED = ("场所已创建", "Venue created")
SETTINGS_SAVED = ("设置已保存", "Settings saved")
DRAFT_SAVED = ("草稿已保存", "Draft saved")
DEFAULT_PAGE_BACK = ("已恢复默认页，手机现在看到的是默认页。", "The default page is back; phones now get it.")
# The heading of the banner over the preview of a page that would be refused.
PUBLISH_REFUSED = ("无法发布", "Cannot be published")
CHOOSE_FILE = ("请选择文件", "choose a file")


def no_such_plan(name: str) -> tuple[str, str]:
    """The venue's default plan names no plan."""
    return f"套餐不存在：{name}", f"no such plan: {name}"


def published(version: int) -> tuple[str, str]:
    return f"已发布版本 v{version}", f"Published version v{version}"


def rolled_back(target: int, version: int) -> tuple[str, str]:
    """Rolled back to ``target``, which became the new ``version``."""
    return f"已回滚到 v{target}（新版本 v{version}）", f"Rolled back to v{target} (new version v{version})"


def asset_uploaded(name: str) -> tuple[str, str]:
    return f"已上传 {name}", f"Uploaded {name}"


def asset_deleted(name: str) -> tuple[str, str]:
    return f"已删除 {name}", f"Deleted {name}"


# -- template renders from the console (portal/web/venue/render_gate.py) ---------------------------

RENDER_BUSY = ("模板渲染请求过多，请稍后再试。",
               "Too many template renders for this account; please try again in a moment.")

# -- ad campaigns (portal/web/venue/venue_campaigns.py) ----------------------------------------------

# Unknown and foreign venues get the same words, so an operator cannot probe which venue ids exist.
CHOOSE_OWN_VENUE = ("请至少选择一个您管理的场所", "choose at least one of your venues")
OWN_VENUES_ONLY = ("只能投放到您管理的场所", "you can only target venues you manage")
OWN_ASSETS_ONLY = ("只能使用您管理的场所的素材", "use assets of the venues you manage")
CAMPAIGN_CREATED = ("广告活动已创建", "Campaign created")
CAMPAIGN_SAVED = ("广告活动已保存", "Campaign saved")
CAMPAIGN_RESUMED = ("已恢复投放", "Campaign resumed")
CAMPAIGN_PAUSED = ("已暂停投放", "Campaign paused")
CAMPAIGN_DELETED = ("广告活动已删除", "Campaign deleted")
STATS_BAD_DATE = ("日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
STATS_SERIES = {"impressions": ("展示", "Impressions"), "views": ("完整观看", "Completed views"),
                "clicks": ("点击", "Clicks")}
# The statistics CSV's header: both languages in each cell (the file has no language).
STATS_CSV_HEADER = ("日期 day", "场所 venue", "展示 impressions", "完整观看 views", "点击 clicks")


def no_such_venues(names: str) -> tuple[str, str]:
    """For the NOC (which may target any venue): ``names`` (comma-separated) do not exist."""
    return f"场所不存在：{names}", f"no such venue: {names}"


def html_does_not_render(line: int | None, reason: str) -> tuple[str, str]:
    """A campaign's HTML that fails its trial render; ``reason`` is Jinja2's own (English) words."""
    where_zh = f"（第 {line} 行）" if line else ""
    where_en = f" (line {line})" if line else ""
    return f"HTML 无法渲染{where_zh}：{reason}", f"the HTML does not render{where_en}: {reason}"


def stats_range(max_days: int) -> tuple[str, str]:
    return f"日期范围须为 1–{max_days} 天", f"the range must be 1-{max_days} days"
