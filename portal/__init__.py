"""citywifi portal core, in areas: ``aaa`` (what RADIUS imports), ``state`` (Redis), ``phone``,
``venues``, ``noc``, ``admin``, ``legal``, ``reports``, ``runtime``, ``web`` and ``commands``
(docs/architecture.md says what lives where).

Kept import-light on purpose: ``radius`` and the CLI import submodules directly.
"""

__version__ = "0.1.0"
