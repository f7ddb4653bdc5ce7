"""Sandboxed venue pages: hostile templates are blocked or fall back to the default page."""

from __future__ import annotations

import time

import pytest

from ad_pages import PageRenderer, RenderLimits, plain, select_ad, texts


def ctx(lang: str = "zh", **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "lang": lang, "t": texts(lang), "venue": {"name": "Library"}, "error": "", "error_code": "",
        "notice": "", "c": "CTX", "phone": "", "code_sent": False, "resend_in": 0, "digits": 6,
        "urls": {"code": "/portal/code", "login": "/portal/login", "next": "/portal/continue",
                 "logout": "/portal/logout"},
        "wispr": {"location_id": "isocc=cn", "location_name": "Library",
                  "login_url": "http://p/portal/wispr", "abort_url": "http://p/portal"},
        "lang_url": "/portal?lang=en",
    }
    base.update(extra)
    return base


@pytest.fixture(scope="module")
def renderer() -> PageRenderer:
    return PageRenderer()


def test_default_pages_render_both_languages_and_stay_light(renderer: PageRenderer) -> None:
    extra = {
        "success": {"redirect_url": "https://www.example.cn/", "redirect_host": "www.example.cn",
                    "delay": 3, "status_url": "/portal/status?s=x", "plan": "Basic"},
        "ad": {"ad": select_ad([], 0, "zh"), "seconds": 10, "ticket": "T"},
        "status": {"online": True, "phone": "189****5678", "plan": "Basic", "time_left": "1:00:00",
                   "data_left": "", "rate": "", "devices": 1, "max_devices": 2, "s": "S"},
        "error": {"error": "验证码错误", "error_code": "wrong_code", "retry_url": "/portal"},
    }
    for lang in ("zh", "en"):
        for page in ("login", "success", "ad", "status", "error"):
            result = renderer.render(page, ctx(lang, **extra.get(page, {})))
            assert result.source == "default" and not result.fallback_reason
            assert len(result.html.encode()) < 50_000
            assert "http://" not in result.html.replace("http://p/", "").replace(
                "http://www.w3.org", "").replace("http://www.wballiance.net", "")
            assert "<script src" not in result.html and "<link" not in result.html
    login = renderer.render("login", ctx("en")).html
    assert 'autocomplete="one-time-code"' in login
    assert "<WISPAccessGatewayParam" in login and "<MessageType>100</MessageType>" in login
    assert "Get code" in login
    assert "获取验证码" in renderer.render("login", ctx("zh")).html


def test_context_values_are_escaped(renderer: PageRenderer) -> None:
    html = renderer.render("login", ctx(phone='"><script>alert(1)</script>')).html
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html or "&#34;&gt;&lt;script" in html


def test_venue_template_is_used(renderer: PageRenderer) -> None:
    result = renderer.render("login", ctx(), "<h1>{{ venue.name }}</h1>{{ t.get_code }}")
    assert result.source == "venue"
    assert result.html == "<h1>Library</h1>获取验证码"


def test_venue_template_may_extend_the_default_base(renderer: PageRenderer) -> None:
    src = '{% extends "default/base.html" %}{% block body %}<p id=v>{{ venue.name }}</p>{% endblock %}'
    result = renderer.render("login", ctx(), src)
    assert result.source == "venue" and "<p id=v>Library</p>" in result.html and "<style>" in result.html


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ t.__class__ }}{{ t.items.__self__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{% set x = [] %}{{ x.append(1) }}",
    "{{ t.update({'a': 1}) }}",
    "{{ '{0.__class__}'.format(t) }}",
    "{{ '%s' % t }}",
])
def test_hostile_templates_fall_back_to_the_default(renderer: PageRenderer, source: str) -> None:
    result = renderer.render("login", ctx(), source)
    assert result.source == "default", result.html
    assert result.fallback_reason
    assert "獲取" not in result.html and "<WISPAccessGatewayParam" in result.html
    assert "subclasses" not in result.html and "class '" not in result.html


def test_config_and_request_do_not_exist(renderer: PageRenderer) -> None:
    result = renderer.render("login", ctx(), "[{{ config }}][{{ request }}][{{ self.__dict__ }}]")
    # Undefined names render empty; attribute access on them is refused or empty — never a leak.
    assert "SECRET" not in result.html and "environ" not in result.html
    if result.source == "venue":
        assert result.html.startswith("[][]")


@pytest.mark.parametrize("source", [
    "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}",
    "{% for i in range(20000) %}{% for j in range(20000) %}x{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{{ 'x' * 100000000 }}",
    "{{ [1] * 100000000 }}",
    "{{ 9 ** 999999 }}",
    "{{ 'x'|center(100000000) }}",
    "{{ 'x'.ljust(100000000) }}",
    "{{ range(10**9)|list }}",
    "{% for i in range(20000) %}{{ 'abcdefgh' }}{% endfor %}",
])
def test_runaway_templates_are_stopped(renderer: PageRenderer, source: str) -> None:
    started = time.monotonic()
    result = renderer.render("login", ctx(), source)
    assert time.monotonic() - started < 3.0
    assert result.source == "default" and result.fallback_reason


def test_syntax_and_runtime_errors_fall_back(renderer: PageRenderer) -> None:
    for source in ("{% for %}", "{{ 1 / 0 }}", "{{ venue.name.nope.deeper() }}", "{% include 'x' %}"):
        result = renderer.render("success", ctx(delay=1, redirect_url="", status_url="", plan=""), source)
        assert result.source == "default", source
        assert "<style>" in result.html


def test_oversized_source_is_refused() -> None:
    renderer = PageRenderer(RenderLimits(max_source=100))
    assert renderer.render("login", ctx(), "x" * 101).source == "default"


def test_only_plain_data_reaches_templates() -> None:
    class Secret:
        token = "s3cr3t"

    with pytest.raises(TypeError):
        plain({"obj": Secret()})
    with pytest.raises(TypeError):
        plain({1: "a"})
    assert plain({"a": (1, 2), "b": {"c": None}}) == {"a": [1, 2], "b": {"c": None}}


def test_ad_selection_rotates_and_drops_external_images() -> None:
    ads = [{"id": "a", "title": {"zh": "甲", "en": "A"}, "image": "https://evil.example/x.png"},
           {"id": "b", "title": "B", "image": "data:image/png;base64,AAAA"}]
    first, second = select_ad(ads, 0, "en"), select_ad(ads, 1, "en")
    assert (first["id"], first["title"], first["image"]) == ("a", "A", "")
    assert (second["id"], second["image"]) == ("b", "data:image/png;base64,AAAA")
    assert select_ad([], 5, "zh")["id"] == "operator-default"


def test_default_page_has_no_time_budget_but_venue_pages_do() -> None:
    # A budget no render can meet: the venue template falls back, the default page still renders
    # (a saturated CPU must never turn the fallback itself into an error page).
    renderer = PageRenderer(RenderLimits(seconds=-1.0))
    result = renderer.render("login", ctx("en"), venue_source="<p>{{ venue.name }}</p>")
    assert result.source == "default" and result.fallback_reason.startswith("limit")
    assert "<form" in result.html


def test_filters_and_tests_are_an_allow_list(renderer: PageRenderer) -> None:
    from ad_pages.guards import ALLOWED_TESTS, FILTER_GUARDS, REFUSED_FILTERS

    internal = {"_guard_value", "_guard_iter", "_guard_concat"}
    assert set(renderer.env.filters) == set(FILTER_GUARDS) | internal
    assert not set(REFUSED_FILTERS) & set(renderer.env.filters)
    assert set(renderer.env.tests) <= ALLOWED_TESTS
    assert set(renderer.env.globals) == {"range"}


def test_growing_filters_work_within_the_budget(renderer: PageRenderer) -> None:
    src = ("[{{ 'ab'|center(6) }}][{{ 'a\\nb'|indent(2, first=true) }}][{{ 'aaa bbb'|wordwrap(3) }}]"
           "[{{ 'xyx'|replace('x', 'zz') }}][{{ [1, 2]|join('-') }}][{{ ([[1], [2]])|sum(start=[]) }}]"
           "[{{ 'a b'.split() }}][{{ 'ab'.zfill(4) }}][{{ 'a\\tb'.expandtabs(2) }}]")
    result = renderer.render("login", ctx(), src)
    assert result.source == "venue", result.fallback_reason
    assert result.html == ("[  ab  ][  a\n  b][aaa\nbbb][zzyzz][1-2][[1, 2]]"
                           "[[&#39;a&#39;, &#39;b&#39;]][00ab][a b]")


@pytest.mark.parametrize("name", [
    "default//etc/passwd", "/etc/passwd", "default/../../../../etc/passwd", "default\\..\\login.html",
    "default/login.html\x00", "default/login.html/", "./default/login.html", "default/./login.html",
    "DEFAULT/login.html", "default/login", "mall/login.html", "default/", "", "default",
])
def test_only_shipped_templates_load_by_exact_name(name: str) -> None:
    from jinja2 import TemplateNotFound

    from ad_pages.loader import ShippedLoader

    renderer = PageRenderer()
    with pytest.raises(TemplateNotFound):
        ShippedLoader().get_source(renderer.env, name)
    result = renderer.render("login", ctx(), "{% include " + repr(name) + " %}")
    assert result.source == "default" and "TemplateNotFound" in result.fallback_reason


@pytest.mark.parametrize("nonce", ["", "n0nce-1"])
@pytest.mark.parametrize("page", ["login", "success", "ad", "status", "error"])
def test_default_pages_render_alike_outside_the_sandbox(renderer: PageRenderer, page: str,
                                                        nonce: str) -> None:
    """Our own pages skip the sandbox (PageRenderer._render_template); they must come out byte for
    byte as the sandbox renders them, script nonces included."""
    from portal.venues.pages import sample_context
    from portal.venues.venue_store import Venue

    venue = Venue(id="v1", name_zh="图书馆", name_en="Library", redirect_url="https://www.example.com/",
                  ads_on_success=page == "success")
    for lang in ("zh", "en"):
        context = plain({**sample_context(page, venue, lang), "csp_nonce": nonce})
        sandboxed = renderer.env.get_template(f"default/{page}.html").render(context)
        trusted = renderer.render(page, context)
        assert trusted.source == "default" and trusted.html == sandboxed
        assert ("nonce=" in trusted.html) == bool(nonce) or "<script" not in trusted.html
