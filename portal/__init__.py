"""citywifi portal core: settings, Redis state, OTP, plans, login use cases, the web app.

Kept import-light on purpose: ``radius`` and the CLI import submodules directly.
"""

__version__ = "0.1.0"
