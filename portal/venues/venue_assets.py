"""Venue assets: images, CSS and fonts that venue pages use, served from the portal host.

Phones behind the AC's walled garden can only reach the portal, so a venue's logo, style sheet
and font must come from ``/assets/<venue>/<name>`` on the portal itself.

Storage is Redis (``{vp:<venue>}`` slot: a metadata hash plus one string per asset), not the
data dir: the web tier runs on several machines that share nothing but Redis, and assets are
small (per-type and per-venue limits in ``[pages]`` settings, 8 MB per venue by default), so
replicating files between nodes would buy nothing but a second consistency problem.

Everything uploaded is untrusted:

* names are normalised to ``[A-Za-z0-9._-]``; traversal (``..``, ``/``, ``\\``), absolute paths,
  NUL, control and invisible format characters (bidi overrides) are refused outright, after
  NFKC normalisation too (a full-width solidus is still a slash);
* the content must match the extension by its magic bytes (PNG, JPEG, GIF, WebP, WOFF2, WOFF,
  TrueType/OpenType); CSS must be UTF-8 text that does not start like HTML;
* SVG is accepted (venues like vector logos) but is a script carrier, so: no DTD/entities
  (XML bombs), and it is always served with ``Content-Security-Policy: default-src 'none';
  style-src 'unsafe-inline'; sandbox`` and ``X-Content-Type-Options: nosniff`` — opened on its
  own no script in it runs; used through ``<img>`` browsers never run SVG scripts anyway;
* per-file size limits by type and a per-venue total and count, checked and stored in one Lua
  script (parallel uploads cannot overrun them), plus a per-venue-operator total over their
  venues and the Redis memory watermark (:mod:`portal.venues.content_quotas`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from portal.errors import NotFound, ValidationError
from portal.runtime.settings import ContentSettings, PagesSettings
from portal.state import keys
from portal.texts import fill
from portal.venues.content_quotas import MemoryWatermark, venue_usage
from portal.venues.texts import ASSET_ERRORS

__all__ = ["ASSET_CSP", "KINDS", "Asset", "AssetError", "AssetStore", "detect_kind", "is_stored_name",
           "safe_name"]

ASSET_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; font-src 'self'; sandbox; "
             "frame-ancestors 'none'")
"""Content-Security-Policy sent with every asset (SVG scripts never run, even opened directly)."""

# extension → (category, content type)
KINDS: dict[str, tuple[str, str]] = {
    "png": ("image", "image/png"), "jpg": ("image", "image/jpeg"), "jpeg": ("image", "image/jpeg"),
    "gif": ("image", "image/gif"), "webp": ("image", "image/webp"), "svg": ("image", "image/svg+xml"),
    "css": ("css", "text/css; charset=utf-8"),
    "woff2": ("font", "font/woff2"), "woff": ("font", "font/woff"), "ttf": ("font", "font/ttf"),
    "otf": ("font", "font/otf"),
}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class AssetError(ValidationError):
    """An upload refused; ``message_zh`` / ``message_en`` say why to the operator."""

    code = "asset_refused"

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.message_zh = zh
        self.message_en = en

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


@dataclass(frozen=True, slots=True)
class Asset:
    """Metadata of one stored asset (the bytes live in their own key)."""

    venue: str
    name: str
    category: str            # image | css | font
    content_type: str
    size: int
    sha256: str
    author: str
    at: float

    @property
    def etag(self) -> str:
        return self.sha256[:32]

    @property
    def url(self) -> str:
        """Root-relative URL with a content version, so it may be cached "immutable"."""
        return f"/assets/{self.venue}/{self.name}?v={self.sha256[:12]}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["url"] = self.url
        return data


def is_stored_name(name: str) -> bool:
    """Whether ``name`` can be the name of a stored asset (what :func:`safe_name` produces)."""
    return bool(_NAME.match(name)) and ".." not in name


def safe_name(raw: str) -> str:
    """The stored name of an uploaded file name, or AssetError (traversal, NUL, bad type)."""
    if not isinstance(raw, str) or not raw or len(raw) > 128:
        raise AssetError(*ASSET_ERRORS["name_length"])
    norm = unicodedata.normalize("NFKC", raw)
    for text in (raw, norm):
        if ("\x00" in text or "/" in text or "\\" in text or ".." in text or text.startswith((".", "~"))
                or re.match(r"^[A-Za-z]:", text)
                or any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)):
            raise AssetError(*ASSET_ERRORS["name_unsafe_chars"])
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", norm).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if "." not in name:
        raise AssetError(*ASSET_ERRORS["no_extension"])
    base, ext = name.rsplit(".", 1)
    base, ext = base.strip("-.") or "file", ext.lower()
    if ext not in KINDS:
        raise AssetError(*fill(ASSET_ERRORS["bad_type"], ext=ext, kinds=", ".join(KINDS)))
    name = f"{base[:70]}.{ext}"
    if not _NAME.match(name):
        raise AssetError(*ASSET_ERRORS["name_unsafe"])
    return name


def _svg_ok(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    head = text.lstrip("\ufeff \t\r\n")
    lowered = text.lower()
    return (head.startswith(("<svg", "<?xml")) and "<svg" in lowered
            and "<!doctype" not in lowered and "<!entity" not in lowered)


def _css_ok(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    head = text.lstrip("\ufeff \t\r\n").lower()
    return "\x00" not in text and not head.startswith(("<", "<!--"))


def detect_kind(ext: str, data: bytes) -> bool:
    """Whether ``data``'s magic bytes (or, for text types, its content) fit extension ``ext``."""
    if ext == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if ext == "gif":
        return data.startswith((b"GIF87a", b"GIF89a"))
    if ext == "webp":
        return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if ext == "woff2":
        return data.startswith(b"wOF2")
    if ext == "woff":
        return data.startswith(b"wOFF")
    if ext in ("ttf", "otf"):
        return data.startswith((b"\x00\x01\x00\x00", b"true", b"OTTO"))
    if ext == "svg":
        return _svg_ok(data)
    if ext == "css":
        return _css_ok(data)
    return False


# Check the venue's count and byte quotas and store the asset in one step: a check followed by
# a separate write let parallel uploads all see the same free room (48 parallel 100 KB uploads
# with room for 11: 19 were stored). KEYS: metadata hash, blob. ARGV: name, bytes, metadata
# JSON, max count, max total bytes. Replacing an asset of the same name frees its old room.
_PUT = """
local count, total = 0, 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i] ~= ARGV[1] then
    count = count + 1
    local ok, meta = pcall(cjson.decode, entries[i + 1])
    if ok and type(meta) == 'table' and tonumber(meta.size) then total = total + tonumber(meta.size) end
  end
end
if count + 1 > tonumber(ARGV[4]) then return {'count', count} end
if total + string.len(ARGV[2]) > tonumber(ARGV[5]) then return {'bytes', total} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {'ok', total + string.len(ARGV[2])}
"""


class AssetStore:
    """Venue assets in Redis (see module doc). ``urls`` is cached per process."""

    def __init__(self, redis: Any, limits: PagesSettings | None = None, *,
                 content: ContentSettings | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.limits = limits or PagesSettings()
        self.content = content or ContentSettings()
        self.watermark = MemoryWatermark(redis, self.content, monotonic=monotonic)
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._urls: dict[str, tuple[float, dict[str, str]]] = {}
        self._put = redis.register_script(_PUT)

    def max_bytes(self, category: str) -> int:
        return {"image": self.limits.max_image_bytes, "css": self.limits.max_css_bytes,
                "font": self.limits.max_font_bytes}[category]

    def put(self, venue_id: str, filename: str, data: bytes, author: str, *,
            account_venues: Iterable[str] | None = None) -> Asset:
        """Check and store an upload under its safe name (replacing one of the same name).
        ``account_venues``: the venues of the venue operator uploading, whose assets together
        must stay within ``content.asset_bytes_per_account`` (None: not a venue operator).
        :class:`~portal.venues.content_quotas.StorageFull` when Redis is near its limit."""
        name = safe_name(filename)
        ext = name.rsplit(".", 1)[1]
        category, content_type = KINDS[ext]
        limit = self.max_bytes(category)
        if not data:
            raise AssetError(*ASSET_ERRORS["empty"])
        if len(data) > limit:
            raise AssetError(*fill(ASSET_ERRORS["too_large"], size=len(data), category=category, limit=limit))
        if not detect_kind(ext, data):
            raise AssetError(*fill(ASSET_ERRORS["content_mismatch"], ext=ext))
        self.watermark.check()
        max_bytes = self.limits.max_venue_bytes
        account_limit = 0
        if account_venues is not None:
            # The operator's other venues are read first (other slots); this venue's script then
            # enforces whichever room is smaller.
            others = venue_usage(self.redis, [v for v in account_venues if v != venue_id])
            account_limit = self.content.asset_bytes_per_account
            max_bytes = min(max_bytes, account_limit - sum(u.asset_bytes for u in others.values()))
        asset = Asset(venue_id, name, category, content_type, len(data), hashlib.sha256(data).hexdigest(),
                      author, self._clock())
        meta = json.dumps(asdict(asset), ensure_ascii=False)
        outcome, *rest = self._put(keys=[keys.venue_assets(venue_id), keys.venue_asset_blob(venue_id, name)],
                                   args=[name, data, meta, self.limits.max_assets, max(0, max_bytes)])
        outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if outcome == "count":
            raise AssetError(*fill(ASSET_ERRORS["count"], limit=self.limits.max_assets))
        if outcome == "bytes":
            if account_limit and max_bytes < self.limits.max_venue_bytes:
                raise AssetError(*fill(ASSET_ERRORS["account_bytes"], limit=account_limit))
            total = int(rest[0]) + len(data)
            raise AssetError(*fill(ASSET_ERRORS["venue_bytes"], total=total,
                                   limit=self.limits.max_venue_bytes))
        self._forget(venue_id)
        return asset

    def get_meta(self, venue_id: str, name: str) -> Asset | None:
        raw = self.redis.hget(keys.venue_assets(venue_id), name)
        return None if raw is None else Asset(**json.loads(raw))

    def get(self, venue_id: str, name: str) -> tuple[Asset, bytes]:
        """Metadata and bytes, or NotFound."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.venue_assets(venue_id), name)
        pipe.get(keys.venue_asset_blob(venue_id, name))
        meta, data = pipe.execute()
        if meta is None or data is None:
            raise NotFound(f"venue {venue_id}: no asset {name!r}")
        return Asset(**json.loads(meta)), bytes(data)

    def all(self, venue_id: str) -> list[Asset]:
        raw = self.redis.hgetall(keys.venue_assets(venue_id))
        return sorted((Asset(**json.loads(v)) for v in raw.values()), key=lambda a: a.name)

    def delete(self, venue_id: str, name: str) -> Asset:
        asset = self.get_meta(venue_id, name)
        if asset is None:
            raise NotFound(f"venue {venue_id}: no asset {name!r}")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(keys.venue_assets(venue_id), name)
        pipe.delete(keys.venue_asset_blob(venue_id, name))
        pipe.execute()
        self._forget(venue_id)
        return asset

    def urls(self, venue_id: str, cache_seconds: float | None = None) -> dict[str, str]:
        """name → versioned URL, for the ``assets`` template variable (cached per process)."""
        ttl = self.limits.cache_seconds if cache_seconds is None else cache_seconds
        now = self._monotonic()
        with self._lock:
            hit = self._urls.get(venue_id)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        out = {a.name: a.url for a in self.all(venue_id)}
        with self._lock:
            if len(self._urls) > 4096:
                self._urls.clear()
            self._urls[venue_id] = (now, out)
        return out

    def _forget(self, venue_id: str) -> None:
        with self._lock:
            self._urls.pop(venue_id, None)
