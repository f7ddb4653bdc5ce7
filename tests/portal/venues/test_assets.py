"""Venue assets: safe names, magic bytes, size limits, Redis storage and the /assets route."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.runtime.settings import PagesSettings, Settings
from portal.venues.venue_assets import ASSET_CSP, AssetError, AssetStore, detect_kind, safe_name
from portal.web import create_app


def png(w: int = 1, h: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


GOOD = {
    "logo.png": png(),
    "photo.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 64,
    "anim.gif": b"GIF89a" + b"\x00" * 32,
    "pic.webp": b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
    "font.woff2": b"wOF2" + b"\x00" * 40,
    "font.woff": b"wOFF" + b"\x00" * 40,
    "font.ttf": b"\x00\x01\x00\x00" + b"\x00" * 40,
    "site.css": b"body{background:url(logo.png)}\n",
    "mark.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                 b'<rect width="10" height="10"/></svg>'),
}


@pytest.fixture
def store(redis_client: Any) -> AssetStore:
    limits = PagesSettings(max_image_bytes=2048, max_css_bytes=512, max_font_bytes=1024, max_venue_bytes=4096,
                           max_assets=20)
    return AssetStore(redis_client, limits)


@pytest.mark.parametrize("raw", [
    "../etc/passwd.png", "..\\x.png", "/etc/x.png", "C:\\x.png", "c:x.png", "a/../b.png", "a\x00.png",
    ".htaccess.css", "..png", "~x.png", "a\u202egnp.css",            # bidi override (unicode trick)
    "a\uff0f..\uff0fb.png",                                           # full-width solidus → '/' under NFKC
    "a\u200bb.png", "a\x07.png",                                      # zero-width, control char
    "", "x" * 200 + ".png",
])
def test_unsafe_names_refused(raw: str) -> None:
    with pytest.raises(AssetError):
        safe_name(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Logo.PNG", "Logo.png"), ("my logo (1).png", "my-logo-1.png"), ("商场标志.png", "file.png"),
    ("a--b.css", "a-b.css"), ("ﬁle.png", "file.png"),                # NFKC ligature
])
def test_names_normalised(raw: str, expected: str) -> None:
    assert safe_name(raw) == expected


@pytest.mark.parametrize("raw", ["x.exe", "x.html", "x.js", "x.php", "x", "x.svgz"])
def test_other_types_refused(raw: str) -> None:
    with pytest.raises(AssetError):
        safe_name(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_name_is_refused_or_safe(raw: str) -> None:
    try:
        name = safe_name(raw)
    except AssetError:
        return
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in name)
    assert ".." not in name and not name.startswith(".") and "/" not in name


def test_good_uploads_stored_listed_deleted(store: AssetStore) -> None:
    for name, data in GOOD.items():
        if name.endswith(("woff", "ttf")):
            continue                                 # font total stays under the test venue limit
        asset = store.put("lib", name, data, "alice")
        assert asset.size == len(data) and asset.url.startswith(f"/assets/lib/{name}?v=")
    names = [a.name for a in store.all("lib")]
    assert names == sorted(names) and "logo.png" in names
    meta, data = store.get("lib", "logo.png")
    assert data == GOOD["logo.png"] and meta.content_type == "image/png"
    assert store.urls("lib", cache_seconds=0)["logo.png"] == meta.url
    store.delete("lib", "logo.png")
    assert store.get_meta("lib", "logo.png") is None
    assert store.all("other") == []


@pytest.mark.parametrize(("name", "data"), [
    ("logo.png", b"GIF89a" + b"\x00" * 10),                    # GIF bytes named .png
    ("logo.png", b"<script>alert(1)</script>"),                # HTML named .png
    ("photo.jpg", b"\x89PNG\r\n\x1a\n"),
    ("font.woff2", b"wOFF" + b"\x00" * 10),
    ("site.css", b"<html><script>alert(1)</script>"),           # HTML named .css
    ("site.css", b"\xff\xfe\x00b\x00o"),                        # not UTF-8
    ("x.svg", b"<!DOCTYPE svg [<!ENTITY a 'aaaa'>]><svg>&a;</svg>"),   # entities (XML bomb)
    ("x.svg", b"<html><body>not svg</body></html>"),
    ("x.webp", b"RIFF\x00\x00\x00\x00WAVE"),
])
def test_wrong_magic_refused(store: AssetStore, name: str, data: bytes) -> None:
    with pytest.raises(AssetError) as err:
        store.put("lib", name, data, "mallory")
    assert err.value.message_zh and err.value.message_en
    assert store.all("lib") == []


def test_size_limits_per_type_and_per_venue(store: AssetStore) -> None:
    with pytest.raises(AssetError, match="too large"):
        store.put("lib", "big.css", b"a{}" * 200, "a")                         # 600 > 512 css
    with pytest.raises(AssetError, match="too large"):
        store.put("lib", "big.png", png() + b"\x00" * 2100, "a")               # > 2048 image
    with pytest.raises(AssetError, match="empty"):
        store.put("lib", "zero.png", b"", "a")
    for i in range(4):
        store.put("lib", f"f{i}.woff2", b"wOF2" + b"\x00" * 900, "a")          # 3616 bytes
    with pytest.raises(AssetError, match="total"):
        store.put("lib", "f9.woff2", b"wOF2" + b"\x00" * 900, "a")             # > 4096 per venue
    store.put("lib", "f0.woff2", b"wOF2" + b"\x00" * 100, "a")                  # replacing is fine
    store.put("other", "f9.woff2", b"wOF2" + b"\x00" * 900, "a")               # other venue: own budget


def test_detect_kind_svg_and_ttf() -> None:
    assert detect_kind("svg", GOOD["mark.svg"]) and detect_kind("svg", b"<?xml version='1.0'?><svg/>")
    assert detect_kind("ttf", b"OTTO....") and not detect_kind("ttf", b"MZ\x90\x00")


# --- HTTP --------------------------------------------------------------------------------------

@pytest.fixture
def client(redis_client: Any, data_dir: Any) -> Any:
    import dataclasses

    settings = dataclasses.replace(Settings(), data_dir=data_dir)
    app = create_app(settings, redis_client)
    return app.test_client()


def test_served_with_cache_etag_and_csp(client: Any, redis_client: Any) -> None:
    store = AssetStore(redis_client)
    asset = store.put("lib", "logo.png", GOOD["logo.png"], "a")
    resp = client.get(asset.url)
    assert resp.status_code == 200 and resp.data == GOOD["logo.png"]
    assert resp.headers["Content-Type"] == "image/png"
    assert "immutable" in resp.headers["Cache-Control"] and "no-store" not in resp.headers["Cache-Control"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == ASSET_CSP
    # Loadable from venue pages, which run in an opaque (sandboxed) origin.
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    etag = resp.headers["ETag"]
    again = client.get(asset.url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    bare = client.get("/assets/lib/logo.png")
    assert bare.status_code == 200 and "immutable" not in bare.headers["Cache-Control"]


def test_svg_is_served_so_its_scripts_cannot_run(client: Any, redis_client: Any) -> None:
    evil = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    AssetStore(redis_client).put("lib", "evil.svg", evil, "m")
    resp = client.get("/assets/lib/evil.svg")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/svg+xml"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_missing_and_traversal_paths_404(client: Any, redis_client: Any) -> None:
    AssetStore(redis_client).put("lib", "logo.png", GOOD["logo.png"], "a")
    for path in ("/assets/lib/nope.png", "/assets/other/logo.png", "/assets/lib/..%2f..%2fetc%2fpasswd",
                 "/assets/lib/../../etc/passwd", "/assets/lib/logo.exe", "/assets/lib/%00.png"):
        assert client.get(path).status_code == 404, path
