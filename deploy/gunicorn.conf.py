"""gunicorn configuration for running the portal with plain ``gunicorn`` instead of
``citywifi web`` (both give the same options: they come from ``portal.commands.web``).

    CITYWIFI_CONFIG=/etc/citywifi/citywifi.toml gunicorn -c /opt/citywifi/deploy/gunicorn.conf.py

Nothing here reads the environment itself: every value comes from the citywifi settings
(``[web]``, ``[portal_client]``, ``log_level``), loaded the way every citywifi process loads
them (``$CITYWIFI_CONFIG`` + ``CITYWIFI_*``). The systemd unit ``citywifi-web.service`` runs
``citywifi web``, which is equivalent; use this file if your tooling wants a gunicorn config.
"""

import argparse

from portal.commands.web import StartupRefused, check_exposure, gunicorn_options
from portal.runtime.settings import load_settings

_settings = load_settings()
try:
    # The same refusals as `citywifi web`: no public listen address without web.trusted_proxies
    # (gunicorn must sit behind nginx's header limits), no empty web.public_url outside demo mode.
    check_exposure(_settings)
except StartupRefused as _exc:
    raise SystemExit(str(_exc)) from None
_options = gunicorn_options(
    argparse.Namespace(host=None, port=None, workers=None, threads=None), _settings)

# The app, built per worker after the fork (its Redis pool and AC UDP socket are per process);
# the phone's address comes from nginx's X-Forwarded-For only when nginx connects from one of
# web.trusted_proxies (portal.web.client_address).
wsgi_app = "portal.commands.web:wsgi_from_environment()"

bind = _options["bind"]                    # web.host:web.port (default 127.0.0.1) — nginx proxies here
workers = _options["workers"]              # web.workers (about one per core)
threads = _options["threads"]              # web.threads: a login waits on the AC, so many
worker_class = _options["worker_class"]    # gthread
timeout = _options["timeout"]              # > the AC retry budget (portal_client.timeout × retries)
graceful_timeout = _options["graceful_timeout"]  # SIGTERM: in-flight logins get this long to finish
keepalive = _options["keepalive"]
backlog = _options["backlog"]
loglevel = _options["loglevel"]
errorlog = "-"                             # journald collects stderr
accesslog = None                           # nginx keeps the access log
proc_name = _options["proc_name"]
# gunicorn itself believes no forwarding header: the app does, from web.trusted_proxies only.
forwarded_allow_ips = _options["forwarded_allow_ips"]
secure_scheme_headers = _options["secure_scheme_headers"]
