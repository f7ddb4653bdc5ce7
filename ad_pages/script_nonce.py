"""Per-response nonces on the inline ``<script>`` tags a template's author wrote.

A venue the NOC lets run scripts (``scripts_allowed``) gets ``script-src 'nonce-…'`` on its phone
pages: only scripts carrying this response's nonce run. The nonce is added at *compile* time to
the template's own literal text, never to rendered output, so a value that reaches the page
from a phone or an AC (an SSID, a number, an error text — even one a careless template marks
``|safe``) can never bring a script that runs: it was not in the template's text.

Each ``<script …>`` opening tag whose whole tag sits in one run of literal text becomes
``<script{% if csp_nonce %} nonce="{{ csp_nonce }}"{% endif %} …>``; without ``csp_nonce`` in
the context (every page of a venue without the opt-in, every default page) the output is
unchanged. Tags that load a file (``src=``) get no nonce: a nonce would let them load from any
host, while the policy lets a venue page load nothing from other hosts. A tag built from an
expression (``<script {{ attrs }}>``) gets none either — it fails closed.
"""

from __future__ import annotations

import re

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

__all__ = ["NONCE_VARIABLE", "NonceInlineScripts"]

NONCE_VARIABLE = "csp_nonce"
_OPEN_TAG = re.compile(r"<script(?=[\s/>])([^<>]*)>", re.IGNORECASE)
_SRC = re.compile(r"(?:^|[\s/])src\s*=", re.IGNORECASE)


def _nonce_statement(lineno: int) -> nodes.If:
    name = nodes.Name(NONCE_VARIABLE, "load", lineno=lineno)
    attr = nodes.Output([nodes.TemplateData(' nonce="', lineno=lineno),
                         nodes.Name(NONCE_VARIABLE, "load", lineno=lineno),   # escaped on output
                         nodes.TemplateData('"', lineno=lineno)], lineno=lineno)
    return nodes.If(name, [attr], [], [], lineno=lineno)


class NonceInlineScripts(NodeTransformer):
    """Splits every ``Output`` whose literal text opens an inline script (see module doc)."""

    def visit_Output(self, node: nodes.Output) -> nodes.Node | list[nodes.Node]:
        if not any(isinstance(c, nodes.TemplateData) and _OPEN_TAG.search(c.data) for c in node.nodes):
            return node
        out: list[nodes.Node] = []
        pending: list[nodes.Expr] = []
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                pending.append(child)
                continue
            text, start = child.data, 0
            for match in _OPEN_TAG.finditer(text):
                if _SRC.search(match.group(1)):
                    continue
                cut = match.start() + len("<script")
                pending.append(nodes.TemplateData(text[start:cut], lineno=child.lineno))
                out.append(nodes.Output(pending, lineno=node.lineno))
                out.append(_nonce_statement(child.lineno or node.lineno))
                pending, start = [], cut
            if start < len(text):
                pending.append(nodes.TemplateData(text[start:], lineno=child.lineno))
        if pending:
            out.append(nodes.Output(pending, lineno=node.lineno))
        return out
