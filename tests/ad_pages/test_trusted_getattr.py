"""``a.b`` in our shipped templates (the trusted environment, ``ad_pages.sandbox``) reads a plain
dict's key without first raising and catching an AttributeError, and answers exactly as Jinja's
own attribute-first lookup: a dict method wins over a key of the same name, a missing key is
undefined, anything that is not a plain dict goes through Jinja's lookup unchanged."""

from __future__ import annotations

from collections import OrderedDict

from jinja2 import Environment

from ad_pages.sandbox import PageRenderer

SOURCE = ("[{{ d.title }}|{{ d.missing }}|{{ d.items is callable }}|{{ d.get('title') }}|"
          "{{ o.title }}|{{ o.keys is callable }}|{{ s.upper() }}|{{ n.real }}]")


def test_trusted_lookup_answers_as_jinja_does() -> None:
    values = {"d": {"title": "标题", "items": "a key named items"}, "o": OrderedDict(title="T"),
              "s": "abc", "n": 7}
    ours = PageRenderer().trusted.from_string(SOURCE).render(values)
    stock = Environment(autoescape=True).from_string(SOURCE).render(values)
    assert ours == stock == "[标题||True|标题|T|True|ABC|7]"


def test_plain_dict_keys_are_read_without_trying_the_attribute_first() -> None:
    import sys

    env = PageRenderer().trusted
    tried: list[str] = []

    def watch(frame: object, event: str, arg: object) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") == "getattr":
            tried.append(event)

    sys.setprofile(watch)
    try:
        found = env.getattr({"title": "x"}, "title")
        missing = env.getattr({"title": "x"}, "nope")
    finally:
        sys.setprofile(None)
    assert found == "x" and str(missing) == ""
    assert tried == []      # Jinja's own lookup calls getattr(obj, "title") and catches the miss
    sys.setprofile(watch)
    try:
        Environment().getattr({"title": "x"}, "title")
    finally:
        sys.setprofile(None)
    assert tried
