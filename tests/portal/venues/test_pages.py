"""Venue page versions in real Redis: drafts, checked publish, history, rollback, caching,
and hostile templates refused at publish time (with the line) or falling back at render time."""

from __future__ import annotations

from typing import Any

import pytest

from ad_pages import PAGES, PageRenderer, RenderLimits
from portal.errors import NotFound
from portal.state import keys
from portal.venues.pages import PageError, PageStore, build_context, default_source, sample_context
from portal.venues.venue_store import Venue
from tests.portal.venues.pagekit import ad_page, login_page

VENUE = Venue(id="lib", name_zh="图书馆", name_en="Library", redirect_url="https://www.example.cn/")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(redis_client: Any) -> PageStore:
    return PageStore(redis_client, cache_seconds=0)


def test_draft_publish_history(store: PageStore) -> None:
    assert store.state("lib", "login").published is None
    assert store.draft(VENUE, "login") == default_source("login")      # editor starts from the default
    store.save_draft("lib", "login", login_page("<h1>{{ venue.name }} v1</h1>"), "alice")
    assert store.state("lib", "login").draft_author == "alice"
    assert store.published_source("lib", "login") is None              # a draft is not live
    v1 = store.publish(VENUE, "login", "alice", note="first")
    assert v1.version == 1 and v1.source == login_page("<h1>{{ venue.name }} v1</h1>") and v1.note == "first"
    assert store.published_source("lib", "login") == v1.source
    v2 = store.publish(VENUE, "login", "bob", source=login_page("<h1>v2</h1>"))
    assert v2.version == 2
    hist = store.history("lib", "login")
    assert [v.version for v in hist] == [2, 1] and hist[0].author == "bob"
    assert store.state("lib", "login").published == 2
    assert store.history("lib", "success") == []                       # pages are separate
    assert store.history("other", "login") == []                       # venues are separate


def test_rollback_publishes_a_copy_and_keeps_history(store: PageStore) -> None:
    store.publish(VENUE, "success", "a", source="<p>one</p>")
    store.publish(VENUE, "success", "a", source="<p>two</p>")
    back = store.rollback(VENUE, "success", 1, "carol")
    assert back.version == 3 and back.source == "<p>one</p>" and back.note == "rollback to v1"
    assert store.published_source("lib", "success") == "<p>one</p>"
    assert [v.source for v in store.history("lib", "success")] == ["<p>one</p>", "<p>two</p>", "<p>one</p>"]
    with pytest.raises(NotFound):
        store.rollback(VENUE, "success", 99, "carol")


def test_publish_refuses_syntax_error_with_line_and_keeps_published(store: PageStore) -> None:
    store.publish(VENUE, "login", "a", source=login_page("<p>good</p>"))
    bad = "<h1>ok</h1>\n<p>fine</p>\n{% if venue.name %}\n<p>never closed</p>\n"
    with pytest.raises(PageError) as err:
        store.publish(VENUE, "login", "a", source=bad)
    assert err.value.kind == "syntax" and err.value.line in (3, 4)
    assert "line" in err.value.message("en") and "行" in err.value.message("zh")
    bad2 = "<p>a</p>\n{{ venue.name }\n"
    with pytest.raises(PageError) as err2:
        store.publish(VENUE, "login", "a", source=bad2)
    assert err2.value.line == 2 and "第 2 行" in err2.value.message_zh and "line 2" in err2.value.message_en
    assert store.published_source("lib", "login") == login_page("<p>good</p>")
    assert [v.version for v in store.history("lib", "login")] == [1]


@pytest.mark.parametrize(("source", "kind"), [
    ("{{ ''.__class__.__mro__ }}", "security"),
    ("{{ venue.__class__ }}", "security"),
    ("{{ t.__init__.__globals__ }}", "security"),
    ("{{ config }}{{ config.items() }}", "runtime"),          # there is no config: Undefined call fails
    ("{{ self._TemplateReference__context }}", "security"),
    ("{% for i in range(10**9) %}x{% endfor %}", "limit"),
    ("{{ 'x' * 10000000 }}", "limit"),
    ("{% for i in range(15000) %}{{ 'abcdefghij' }}{% endfor %}", "limit"),       # huge output
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "limit"),               # recursion
    ("{% include '/etc/passwd' %}", "runtime"),
    ("{% include '../../../etc/passwd' %}", "runtime"),
    ("{{ '%s' % venue }}", "security"),
    ("{{ '{0.__class__}'.format(venue) }}", "security"),
])
def test_publish_refuses_hostile_templates(store: PageStore, source: str, kind: str) -> None:
    with pytest.raises(PageError) as err:
        store.publish(VENUE, "login", "mallory", source=source)
    assert err.value.kind == kind, err.value
    assert store.published_source("lib", "login") is None


def test_publish_refuses_slow_template_by_time_limit(redis_client: Any) -> None:
    store = PageStore(redis_client, renderer=PageRenderer(RenderLimits(seconds=0.05)), cache_seconds=0)
    slow = "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}"
    with pytest.raises(PageError) as err:
        store.publish(VENUE, "ad", "m", source=slow)
    assert err.value.kind == "limit" and "long" in err.value.reason


def test_publish_refuses_empty_and_oversize(store: PageStore) -> None:
    with pytest.raises(PageError):
        store.publish(VENUE, "login", "a", source="   \n")
    with pytest.raises(PageError):
        store.save_draft("lib", "login", "x" * 50_000, "a")


def test_runtime_failure_in_one_language_is_caught_at_publish(store: PageStore) -> None:
    # Fine in zh, breaks in en: the trial render covers both languages.
    src = "{% if lang == 'en' %}{{ 1 // 0 }}{% endif %}<p>ok</p>"
    with pytest.raises(PageError) as err:
        store.publish(VENUE, "status", "a", source=src)
    assert err.value.kind == "runtime" and "ZeroDivisionError" in err.value.reason and err.value.line == 1


def test_every_default_page_publishes_as_is(store: PageStore) -> None:
    for page in PAGES:
        v = store.publish(VENUE, page, "a", source=default_source(page))
        assert v.version == 1


def test_templates_may_extend_the_default_base(store: PageStore) -> None:
    src = login_page('{% extends "default/base.html" %}{% block body %}<h1 id="mine">{{ venue.name }}</h1>')
    store.publish(VENUE, "login", "a", source=src + "{% endblock %}")
    live = store.published_source("lib", "login")
    html = PageRenderer().render("login", sample_context("login", VENUE, "en"), live)
    assert html.source == "venue" and '<h1 id="mine">Library</h1>' in html.html


def test_published_source_is_cached_per_process(redis_client: Any) -> None:
    ticks = Clock()
    reader = PageStore(redis_client, cache_seconds=2.0, monotonic=ticks)
    writer = PageStore(redis_client, cache_seconds=2.0)
    assert reader.published_source("lib", "login") is None
    writer.publish(VENUE, "login", "a", source=login_page("<p>new</p>"))
    assert reader.published_source("lib", "login") is None              # still cached (other process)
    ticks.now += 2.5
    assert reader.published_source("lib", "login") == login_page("<p>new</p>")
    reader.publish(VENUE, "login", "a", source=login_page("<p>mine</p>"))
    assert reader.published_source("lib", "login") == login_page("<p>mine</p>")     # own publish: at once


def test_venue_seed_is_the_fallback(store: PageStore) -> None:
    seeded = Venue(id="lib", templates={"login": "<p>seed</p>"})
    assert store.source_for(seeded, "login") == "<p>seed</p>"
    assert store.source_for(seeded, "success") is None
    store.publish(seeded, "login", "a", source=login_page("<p>published</p>"))
    assert store.source_for(seeded, "login") == login_page("<p>published</p>")
    store.unpublish("lib", "login")
    assert store.source_for(seeded, "login") == "<p>seed</p>"


def test_history_is_pruned_to_max_versions(redis_client: Any) -> None:
    store = PageStore(redis_client, cache_seconds=0, max_versions=3)
    for i in range(5):
        store.publish(VENUE, "error", "a", source=f"<p>{i}</p>")
    assert [v.version for v in store.history("lib", "error")] == [5, 4, 3]


def test_keys_share_the_venue_slot(redis_client: Any, store: PageStore) -> None:
    store.publish(VENUE, "login", "a", source=login_page("<p>x</p>"))
    assert keys.page_meta("lib", "login").split("}")[0] == keys.page_versions("lib", "login").split("}")[0]
    assert redis_client.exists(keys.page_meta("lib", "login"), keys.page_versions("lib", "login")) == 2
    store.delete_venue("lib")
    assert redis_client.exists(keys.page_meta("lib", "login"), keys.page_versions("lib", "login")) == 0


def test_unknown_page_refused(store: PageStore) -> None:
    with pytest.raises(NotFound):
        store.save_draft("lib", "../etc", "<p>", "a")


def test_render_time_failure_falls_back_and_is_counted(store: PageStore) -> None:
    renderer = PageRenderer()
    # Passes the publish check (sample data) but breaks on real data at render time.
    src = "{% if phone == '13800000000' %}{{ 1 // 0 }}{% endif %}<p id='v'>venue</p>"
    store.publish(VENUE, "status", "a", source=src)
    live = store.published_source("lib", "status")
    ok = renderer.render("status", build_context(VENUE, "zh", phone="1"), live)
    assert ok.source == "venue"
    bad = renderer.render("status", build_context(VENUE, "zh", phone="13800000000"),
                          store.published_source("lib", "status"))
    assert bad.source == "default" and "ZeroDivisionError" in bad.fallback_reason
    store.record_fallback("lib", "status", bad.fallback_reason)
    store.record_fallback("lib", "status", bad.fallback_reason)
    seen = store.fallbacks("lib")
    assert seen["status"]["count"] == 2 and "ZeroDivisionError" in seen["status"]["last"]["reason"]


def test_context_is_plain_data_only() -> None:
    from ad_pages import plain

    for page in PAGES:
        for lang in ("zh", "en"):
            ctx = sample_context(page, VENUE, lang)
            assert plain(ctx) == ctx
            assert "config" not in ctx and "request" not in ctx and "settings" not in ctx


def test_venue_templates_are_compiled_once_and_the_cache_is_bounded() -> None:
    renderer = PageRenderer(cache_size=2)
    ctx = sample_context("login", VENUE, "zh")
    for _ in range(3):
        assert renderer.render("login", ctx, "<p>{{ venue.name }}</p>").html == "<p>图书馆</p>"
    first = renderer._templates["<p>{{ venue.name }}</p>"]
    renderer.render("login", ctx, "<p>b</p>")
    assert renderer._templates["<p>{{ venue.name }}</p>"] is first          # reused, not recompiled
    renderer.render("login", ctx, "<p>c</p>")
    assert len(renderer._templates) == 2 and "<p>{{ venue.name }}</p>" not in renderer._templates
    # A cached hostile template still meets the limits on every render.
    slow = "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}"
    for _ in range(2):
        assert renderer.render("login", ctx, slow).source == "default"


# --- the forms phones need (a login page without a login form would strand the venue) -----------

@pytest.mark.parametrize(("page", "source", "missing_zh", "missing_en"), [
    ("login", "<p>{{ venue.name }}</p>", "登录表单", "the login form"),
    ("login", "<p>x</p>", "获取验证码的表单", "the form that asks for a code"),
    # A code form but no login: the phone gets a code it cannot use.
    ("login", '<form method="post" action="{{ urls.code }}"><input type="hidden" name="c" value="{{ c }}">'
              '<input name="phone"></form>', "登录表单", "the login form"),
    # The right fields, but a GET (the portal takes POSTs only), another host, or a made-up c.
    ("login", login_page("").replace('method="post"', 'method="get"'), "登录表单", "the login form"),
    ("login", login_page("").replace("{{ urls.login }}", "https://evil.example{{ urls.login }}"),
     "登录表单", "the login form"),
    ("login", login_page("").replace('value="{{ c }}"', 'value="x"'), "登录表单", "the login form"),
    ("login", login_page("").replace('name="code"', 'name="code" disabled'), "登录表单", "the login form"),
    ("ad", "<p>{{ ad.title }}</p>", "继续上网的表单", "the continue form"),
    ("ad", '<form method="post" action="{{ urls.next }}"><input name="c" value="{{ c }}"></form>',
     "继续上网的表单", "the continue form"),
])
def test_publish_refuses_a_page_without_the_forms_phones_need(store: PageStore, page: str, source: str,
                                                              missing_zh: str, missing_en: str) -> None:
    with pytest.raises(PageError) as err:
        store.publish(VENUE, page, "alice", source=source)
    assert err.value.kind == "incomplete"
    assert missing_zh in err.value.message("zh") and "缺少必需的表单" in err.value.message("zh")
    assert missing_en in err.value.message("en") and "a required form is missing" in err.value.message("en")
    assert store.published_source("lib", page) is None


def test_forms_may_be_laid_out_freely(store: PageStore) -> None:
    # Two forms instead of formaction buttons, fields linked with form="…", another language's text.
    c = '<input type="hidden" name="c" value="{{ c }}">'
    split = (f'<form id="get" method="POST" action="{{{{ urls.code }}}}">{c}</form>'
             '<input form="get" name="phone"><button form="get">{{ t.get_code }}</button>'
             f'<form method="post" action="{{{{ urls.login }}}}?x=1">{c}'
             '<input name="phone"><select name="code"></select><input type="submit"></form>')
    assert store.publish(VENUE, "login", "a", source=split).version == 1
    assert store.publish(VENUE, "ad", "a", source=ad_page("<p>{{ ad.title }}</p>")).version == 1
    assert store.publish(VENUE, "success", "a", source="<p>no form needed</p>").version == 1
