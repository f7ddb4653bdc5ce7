"""The venue console (``/venue``): venue settings, page editor with preview/publish/history/
rollback, and assets. Venue operators see only their venues (404 for the rest); NOC and admin
accounts see all and may also change the network fields (ACs, SSIDs, APs, plan, allow-list).

Venue-authored HTML never runs in the console's origin: the preview is served with
``Content-Security-Policy: sandbox`` (an opaque origin even when opened on its own, no forms, no
top navigation; ``allow-scripts`` and a nonce only for a venue the NOC lets run scripts, as on
phones) and shown in an ``<iframe sandbox="allow-scripts">``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from ad_pages import PAGES
from ad_pages.forms import describe_missing, missing_forms
from portal.admin.accounts import Role
from portal.errors import NotFound, ValidationError
from portal.venues.content_quotas import ContentRefused
from portal.venues.page_help_texts import variables_for
from portal.venues.pages import PageError, build_context, sample_values
from portal.venues.venue_assets import AssetError
from portal.venues.venue_store import NETWORK_FIELDS, OPERATOR_FIELDS, Venue, VenueSettingsError, update_venue
from portal.web import services
from portal.web.console import audit, current_account, login_required, require_venue, tr
from portal.web.i18n import pick_language
from portal.web.phone.venue_csp import new_nonce, script_src, shipped_script_sources
from portal.web.venue import texts as T
from portal.web.venue.render_gate import RenderBusy, busy_response, render_slot

__all__ = ["PREVIEW_CSP", "bp", "limit_content_writes", "preview_csp"]

bp = Blueprint("venue_console", __name__, url_prefix="/venue")

def preview_csp(script_nonce: str = "", script_hashes: Iterable[str] = ()) -> str:
    """The preview's policy: an opaque origin (no console cookies/DOM), no form posts, and
    scripts exactly as phones get them: the shipped scripts the page holds unchanged (by hash),
    and (a venue the NOC opted in) the inline scripts of the venue's template, by this
    response's nonce; nothing else."""
    sources = script_src(script_nonce, script_hashes)
    scripts = f"sandbox allow-scripts; script-src {sources}" if sources else "sandbox; script-src 'none'"
    return (f"{scripts}; default-src 'none'; img-src 'self' data:; "
            "style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
            "form-action 'none'; base-uri 'none'; frame-ancestors 'self'")


PREVIEW_CSP = preview_csp()
"""The preview's policy for a venue without scripts."""

@bp.context_processor
def _page_tabs() -> dict[str, Any]:
    """The page tabs (venue/_tabs.html) by their names in the console language, not their ids."""
    return {"page_tabs": [(p, tr(*T.PAGE_TITLES[p])) for p in PAGES]}


def _lang() -> str:
    return str(getattr(g, "console_lang", "zh"))


def _venue(venue_id: str) -> Venue:
    """The venue, after the visibility check (404 for venues this account may not see)."""
    require_venue(venue_id)
    venue = services().journey.venues.get_or_none(venue_id)
    if venue is None:
        abort(404)
    return venue


def _page(page: str) -> str:
    if page not in PAGES:
        abort(404)
    return page


def _actor() -> str:
    account = current_account()
    return account.username if account else ""


def _operator_venues() -> tuple[str, ...] | None:
    """A venue operator's venues, whose content shares the account's quotas (NOC and admin
    accounts: None — the per-venue quotas apply)."""
    account = current_account()
    return account.venues if account is not None and account.role is Role.VENUE else None


def _network() -> bool:
    account = current_account()
    return bool(account and account.is_noc)


def _digest(text: str) -> dict[str, Any]:
    return {"size": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _public(venue: Venue) -> dict[str, Any]:
    data = dict(json.loads(venue.to_json()))
    data.pop("templates", None)
    data.pop("ads", None)
    return data


# --- venue list and settings ---------------------------------------------------------------------

@bp.get("")
@bp.get("/")
@login_required()
def index() -> str:
    account = current_account()
    assert account is not None
    venues = [v for v in sorted(services().journey.venues.all().values(), key=lambda v: v.id)
              if account.can_see_venue(v.id)]
    return render_template("venue/index.html", venues=venues, lang=_lang(), can_create=_network())


@bp.route("/new", methods=["GET", "POST"])
@login_required(Role.ADMIN, Role.NOC)
def create() -> BaseResponse | str | tuple[str, int]:
    error = ""
    if request.method == "POST":
        venue_id = request.form.get("id", "").strip()
        store = services().journey.venues
        try:
            if store.get_or_none(venue_id) is not None:
                raise ValidationError(tr(*T.VENUE_EXISTS))
            venue = Venue(id=venue_id, name_zh=request.form.get("name_zh", "").strip()[:80],
                          name_en=request.form.get("name_en", "").strip()[:80])
            store.put(venue)
        except (ValidationError, NotFound) as exc:
            error = str(exc)
        else:
            audit("venue", "venue.create", venue.id, None, _public(venue))
            flash(tr(*T.VENUE_CREATED), "ok")
            return redirect(url_for("venue_console.settings", venue_id=venue.id))
    return render_template("venue/new.html", error=error), 400 if error else 200


@bp.get("/<venue_id>")
@login_required()
def overview(venue_id: str) -> str:
    venue = _venue(venue_id)
    svc = services()
    pages = [(p, tr(*T.PAGE_TITLES[p]), svc.pages.state(venue.id, p)) for p in PAGES]
    return render_template("venue/overview.html", venue=venue, pages=pages,
                           fallbacks=svc.pages.fallbacks(venue.id), lang=_lang())


def _form_changes(network: bool) -> dict[str, Any]:
    form = request.form
    changes: dict[str, Any] = {name: form.get(name, "") for name in ("name_zh", "name_en", "redirect_url",
                                                                     "redirect_delay", "ad_seconds")}
    changes["silent_mac_login"] = form.get("silent_mac_login") == "on"
    changes["ads_on_success"] = form.get("ads_on_success") == "on"
    changes["languages"] = [lang for lang in ("zh", "en") if form.get(f"lang_{lang}") == "on"]
    if network:
        for name in ("acs", "ssids", "ap_macs", "ap_groups", "redirect_hosts"):
            changes[name] = form.get(name, "")
        changes["default_plan"] = form.get("default_plan", "")
        changes["default"] = form.get("default") == "on"
        changes["scripts_allowed"] = form.get("scripts_allowed") == "on"
    return changes


@bp.route("/<venue_id>/settings", methods=["GET", "POST"])
@login_required()
def settings(venue_id: str) -> BaseResponse | str | tuple[str, int]:
    venue = _venue(venue_id)
    network = _network()
    svc = services()
    error, error_field, status = "", "", 200
    shown = venue
    if request.method == "POST":
        changes = _form_changes(network)
        try:
            updated = update_venue(venue, changes, operator_hosts=svc.settings.web.redirect_hosts,
                                   network=network)
            svc.journey.venues.put(updated)
        except VenueSettingsError as exc:
            error, error_field, status = exc.message(_lang()), exc.field, 400
        except NotFound as exc:          # unknown default plan
            error, error_field, status = tr(*T.no_such_plan(str(exc))), "default_plan", 400
        else:
            audit("venue", "venue.update", venue.id, _public(venue), _public(updated))
            flash(tr(*T.SETTINGS_SAVED), "ok")
            return redirect(url_for("venue_console.settings", venue_id=venue.id))
        shown = venue
    return render_template("venue/settings.html", venue=shown, network=network, error=error,
                           error_field=error_field, form=request.form if error else None,
                           operator_hosts=svc.settings.web.redirect_hosts,
                           operator_fields=OPERATOR_FIELDS, network_fields=NETWORK_FIELDS), status


# --- pages ----------------------------------------------------------------------------------------

def _editor(venue: Venue, page: str, *, source: str | None = None, problem: PageError | None = None,
            status: int = 200) -> tuple[str, int]:
    svc = services()
    state = svc.pages.state(venue.id, page)
    draft = source if source is not None else svc.pages.draft(venue, page)
    if problem is None and source is None and state.draft is not None:
        # The trial render of the draft is a venue-template render like a preview: same budget,
        # same per-account gate (a hostile draft must not make opening the editor a weapon).
        try:
            with render_slot(svc.redis, _actor()):
                svc.pages.check(venue, page, draft)
        except PageError as exc:
            problem = exc
        except RenderBusy:
            pass        # the page still opens; the check runs on the next visit, save or preview
    return render_template(
        "venue/page.html", venue=venue, page=page, page_title=tr(*T.PAGE_TITLES[page]), pages=PAGES,
        page_titles={p: tr(*T.PAGE_TITLES[p]) for p in PAGES}, state=state, draft=draft,
        history=svc.pages.history(venue.id, page), problem=problem.message(_lang()) if problem else "",
        problem_line=problem.line if problem else None, variables=variables_for(page),
        assets=svc.assets.all(venue.id), lang=_lang()), status


@bp.get("/<venue_id>/pages/<page>")
@login_required()
def page_editor(venue_id: str, page: str) -> tuple[str, int]:
    return _editor(_venue(venue_id), _page(page))


@bp.post("/<venue_id>/pages/<page>")
@login_required()
def page_save(venue_id: str, page: str) -> BaseResponse | tuple[str, int]:
    venue, page = _venue(venue_id), _page(page)
    svc = services()
    source = request.form.get("source", "").replace("\r\n", "\n")
    action = request.form.get("action", "save")
    before = svc.pages.state(venue.id, page)
    try:
        svc.pages.save_draft(venue.id, page, source, _actor())
    except PageError as exc:
        return _editor(venue, page, source=source[:60_000], problem=exc, status=400)
    # DRAFT_NOT_AUDITED: a draft is never served to phones; what goes live is, and its publish
    # or rollback entry names the author and the digest of the source (the version history
    # keeps the source itself, the page record the draft's last author and time). An entry per
    # save let one account grow the 7-day audit log at will: 2,820 saves in 15 s added 504 KB.
    if action == "publish":
        try:
            with render_slot(svc.redis, _actor()):
                version = svc.pages.publish(venue, page, _actor(), note=request.form.get("note", "").strip(),
                                            source=source, account_venues=_operator_venues())
        except RenderBusy as exc:
            return _busy(exc)
        except PageError as exc:
            return _editor(venue, page, source=source, problem=exc, status=400)
        audit("venue", "page.publish", f"{venue.id}/{page}",
              {"version": before.published}, {**version.summary(), **_digest(source)})
        flash(tr(*T.published(version.version)), "ok")
    elif action == "preview":
        return redirect(url_for("venue_console.page_editor", venue_id=venue.id, page=page, preview=1))
    else:
        flash(tr(*T.DRAFT_SAVED), "ok")
    return redirect(url_for("venue_console.page_editor", venue_id=venue.id, page=page))


@bp.post("/<venue_id>/pages/<page>/rollback")
@login_required()
def page_rollback(venue_id: str, page: str) -> BaseResponse:
    venue, page = _venue(venue_id), _page(page)
    svc = services()
    try:
        target = int(request.form.get("version", ""))
        before = svc.pages.state(venue.id, page).published
        version = svc.pages.rollback(venue, page, target, _actor(), account_venues=_operator_venues())
    except (ValueError, NotFound):
        abort(404)
    except PageError as exc:           # an old version that today's rules refuse
        flash(exc.message(_lang()), "error")
        return redirect(url_for("venue_console.page_editor", venue_id=venue.id, page=page))
    audit("venue", "page.rollback", f"{venue.id}/{page}", {"version": before},
          {**version.summary(), "from_version": target})
    flash(tr(*T.rolled_back(target, version.version)), "ok")
    return redirect(url_for("venue_console.page_editor", venue_id=venue.id, page=page))


@bp.post("/<venue_id>/pages/<page>/restore-default")
@login_required()
def page_restore_default(venue_id: str, page: str) -> BaseResponse:
    """Back to the default page (no version of its own: the history stays for rollbacks)."""
    venue, page = _venue(venue_id), _page(page)
    svc = services()
    had_draft = svc.pages.state(venue.id, page).draft is not None
    before = svc.pages.restore_default(venue.id, page)
    audit("venue", "page.restore_default", f"{venue.id}/{page}",
          {"version": before, "draft": had_draft}, {"version": None, "draft": False})
    flash(tr(*T.DEFAULT_PAGE_BACK), "ok")
    return redirect(url_for("venue_console.page_editor", venue_id=venue.id, page=page))


@bp.get("/<venue_id>/pages/<page>/versions/<int:version>")
@login_required()
def page_version(venue_id: str, page: str, version: int) -> str:
    venue, page = _venue(venue_id), _page(page)
    try:
        v = services().pages.version(venue.id, page, version)
    except NotFound:
        abort(404)
    return render_template("venue/version.html", venue=venue, page=page, version=v,
                           page_title=tr(*T.PAGE_TITLES[page]))


PREVIEW_PARAMS = ("version", "live")


@bp.get("/<venue_id>/pages/<page>/preview")
@login_required()
def page_preview(venue_id: str, page: str) -> Response:
    """The draft (or ``?version=N``, or ``?live=1`` for what phones get now) rendered exactly
    as the phone views render it: same context builder, same sandboxed renderer, same fallback;
    a page missing a form phones need carries a banner saying what is missing."""
    venue, page = _venue(venue_id), _page(page)
    svc = services()
    # As the phone view picks it: only the venue's languages (a venue offering only English
    # shows English even to a Chinese phone), and a working link to the other language.
    lang = pick_language(None, request.args.get("lang"), venue.languages or ("zh", "en"))
    other = "en" if lang == "zh" else "zh"
    if request.args.get("version"):
        try:
            source: str | None = svc.pages.version(venue.id, page, int(request.args["version"])).source
        except (ValueError, NotFound):
            abort(404)
    elif request.args.get("live"):
        source = svc.pages.source_for(venue, page, cached=False)
    else:
        source = svc.pages.draft(venue, page)
    # Only the preview's own parameters: anything else would reach url_for as a keyword
    # (?page=, ?venue_id= → TypeError; ?_external=, ?_anchor= → a different link).
    args: dict[str, Any] = {k: request.args[k] for k in PREVIEW_PARAMS if request.args.get(k)}
    lang_url = url_for("venue_console.page_preview", venue_id=venue.id, page=page, **args, lang=other)
    nonce = new_nonce() if venue.scripts_allowed else ""
    context = build_context(venue, lang, lang_url=lang_url, digits=svc.settings.otp.digits,
                            assets=svc.assets.urls(venue.id, cache_seconds=0),
                            **sample_values(page, venue, lang), csp_nonce=nonce)
    try:
        with render_slot(svc.redis, _actor()):
            result = svc.renderer.render(page, context, source)
    except RenderBusy as exc:
        return _busy(exc)
    html = result.html
    missing = missing_forms(page, html, context) if result.source == "venue" else []
    if missing:         # publishing would be refused: say so on the page itself
        html = _with_banner(html, *describe_missing(page, missing, context["urls"]))
    response = Response(html, mimetype="text/html")
    ours = result.source == "venue"     # a default page runs its scripts on phones without any policy
    response.headers["Content-Security-Policy"] = preview_csp(
        nonce if ours else "", shipped_script_sources(result.html) if ours else ())
    response.headers["X-Preview-Source"] = result.source            # "venue" or "default" (fallback)
    if missing:
        response.headers["X-Preview-Problem"] = "missing-forms:" + ",".join(m.key for m in missing)
    response.headers["Cache-Control"] = "no-store"
    return response


def _busy(exc: RenderBusy) -> Response:
    return busy_response(exc)


def _with_banner(html: str, zh: str, en: str) -> str:
    """``html`` with a warning at the top of its body (the preview of a page that would be
    refused). Found with str.find, not a regex: the HTML is the venue's."""
    title_zh, title_en = T.PUBLISH_REFUSED
    banner = ('<div id="preview-problem" role="alert" style="position:sticky;top:0;z-index:2147483647;'
              'background:#fdecea;color:#7a1c12;border:2px solid #c0392b;padding:8px 10px;'
              'font:14px/1.4 sans-serif">'
              f"<strong>{title_zh} / {title_en}</strong><br>{escape(zh)}<br>{escape(en)}</div>")
    start = html.lower().find("<body")
    end = html.find(">", start) if start >= 0 else -1
    return html[:end + 1] + banner + html[end + 1:] if end >= 0 else banner + html


# --- assets ---------------------------------------------------------------------------------------

@bp.route("/<venue_id>/assets", methods=["GET", "POST"])
@login_required()
def assets(venue_id: str) -> BaseResponse | tuple[str, int]:
    venue = _venue(venue_id)
    svc = services()
    error, status = "", 200
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise AssetError(*T.CHOOSE_FILE)
            data = upload.read(svc.settings.pages.max_font_bytes + svc.settings.pages.max_image_bytes + 1)
            asset = svc.assets.put(venue.id, upload.filename, data, _actor(),
                                   account_venues=_operator_venues())
        except AssetError as exc:
            error, status = exc.message(_lang()), 400
        except ContentRefused as exc:           # the storage watermark
            error, status = exc.message(_lang()), exc.status
        else:
            audit("venue", "asset.upload", f"{venue.id}/{asset.name}", None,
                  {k: v for k, v in asset.to_dict().items() if k != "url"})
            flash(tr(*T.asset_uploaded(asset.name)), "ok")
            return redirect(url_for("venue_console.assets", venue_id=venue.id))
    return render_template("venue/assets.html", venue=venue, assets=svc.assets.all(venue.id), error=error,
                           limits=svc.settings.pages), status


@bp.post("/<venue_id>/assets/<name>/delete")
@login_required()
def asset_delete(venue_id: str, name: str) -> BaseResponse:
    venue = _venue(venue_id)
    try:
        asset = services().assets.delete(venue.id, name)
    except NotFound:
        abort(404)
    audit("venue", "asset.delete", f"{venue.id}/{name}",
          {k: v for k, v in asset.to_dict().items() if k != "url"}, None)
    flash(tr(*T.asset_deleted(name)), "ok")
    return redirect(url_for("venue_console.assets", venue_id=venue.id))


# Console endpoints whose POST stores venue content (and may add an audit entry): counted
# against the account's write rate ([content] writes_per_minute / writes_per_hour, portal/
# quotas.py), 429 in zh/en beyond it. Deletions are not limited: they free storage.
CONTENT_WRITES = frozenset({
    "venue_console.create", "venue_console.settings", "venue_console.page_save",
    "venue_console.page_rollback", "venue_console.assets",
    "venue_campaigns.create", "venue_campaigns.edit", "venue_campaigns.set_enabled",
})


def limit_content_writes() -> None:
    """Blueprint hook (after the app's CSRF check): count a content save, or refuse it."""
    if request.method == "POST" and request.endpoint in CONTENT_WRITES:
        account = current_account()
        if account is not None:        # not signed in: the view's login_required answers
            services().content_writes.take(account.username)


bp.before_request(limit_content_writes)


def _body_limit() -> None:
    # The app-wide body limit (64 KB) fits phone forms; page sources (40,000 characters, up to
    # 9 bytes each once form-encoded) and uploads need more. Runs before the console's CSRF
    # hook, which is the first to read the form.
    if request.method != "POST" or request.blueprint != "venue_console":
        return
    if request.endpoint == "venue_console.assets":
        limits = services().settings.pages
        request.max_content_length = max(limits.max_image_bytes, limits.max_css_bytes,
                                         limits.max_font_bytes) + 64 * 1024
    elif request.endpoint == "venue_console.page_save":
        request.max_content_length = 512 * 1024


@bp.record_once
def _install_body_limit(state: Any) -> None:
    state.app.before_request_funcs.setdefault(None, []).insert(0, _body_limit)
