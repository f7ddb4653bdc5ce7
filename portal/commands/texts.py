"""What the ``citywifi`` commands print to a CLI user when they refuse or fail (zh + en).

Audience: the operator at a terminal. Each message is ONE string, Chinese then English as the
commands have always printed them (``"<zh> / <en>"``, or a Chinese paragraph and an English one);
a text with parameters is a ``str.format`` template with named fields. The other catalogs:
``portal/texts.py`` lists them (the embedded-instance lookup's message is in
``portal/state/texts.py``, a service's failed start in ``portal/runtime/texts.py``).
"""

from __future__ import annotations

__all__ = [
    "AC_LISTENER_LISTEN",
    "AC_LISTENER_METRICS",
    "AC_LISTENER_NO_REDIS",
    "ADMIN_NO_PASSWORD_STDIN",
    "ADMIN_NO_TERMINAL",
    "ADMIN_PASSWORDS_DIFFER",
    "ADMIN_PASSWORD_EOF",
    "ADMIN_UNKNOWN_VENUE",
    "ADMIN_VENUE_NEEDED",
    "ADMIN_VENUE_NOT_FOR_ROLE",
    "CONFIG_OK",
    "RADIUS_METRICS",
    "RADIUS_PORT_IN_USE",
    "UP_ALREADY_RUNNING",
    "UP_BAD_DATA_DIR",
    "UP_REDIS_FAILED",
    "UP_STOPPED",
    "UP_UNKNOWN_SERVICE",
    "WEB_NO_PROXY",
    "WEB_NO_PUBLIC_URL",
]

# citywifi ac-listener
AC_LISTENER_NO_REDIS = "citywifi ac-listener: 无法连接 Redis / cannot reach Redis: {error}"
AC_LISTENER_LISTEN = "citywifi ac-listener: 无法监听 UDP 端口 / cannot listen: {error}"
AC_LISTENER_METRICS = "citywifi ac-listener: 监控端口不可用 / metrics port: {error}"

# citywifi admin
ADMIN_VENUE_NOT_FOR_ROLE = ("--venue 只适用于 venue 角色 / --venue is only for --role venue "
                            "(an {role} account sees every venue)")
ADMIN_VENUE_NEEDED = ("venue 账号需要至少一个 --venue（场所编号）/ a venue account needs at least "
                      "one --venue VENUE_ID (the venues it may edit)")
ADMIN_UNKNOWN_VENUE = "场所不存在 / unknown venue {unknown} (known venues: {known})"
ADMIN_NO_PASSWORD_STDIN = "标准输入中没有密码 / no password on standard input (--password-stdin)"
ADMIN_NO_TERMINAL = ("没有终端可输入密码：请用 --password-stdin 从标准输入传入 / no terminal to ask "
                     "for the password: pass it on standard input with --password-stdin")
ADMIN_PASSWORD_EOF = "密码输入被中断 / password entry ended (EOF); use --password-stdin"
ADMIN_PASSWORDS_DIFFER = "两次输入的密码不同 / the two passwords differ"

# citywifi config check
CONFIG_OK = "ok: settings are valid / 配置有效"

# citywifi radius
RADIUS_METRICS = "citywifi radius: metrics port {port}: {error} / 监控端口不可用"
RADIUS_PORT_IN_USE = "citywifi radius: {error} / 端口已被占用"

# citywifi up
UP_BAD_DATA_DIR = "citywifi up: 数据目录不可用 / cannot use the data directory {data_dir}: {error}"
UP_UNKNOWN_SERVICE = "citywifi up: 未知服务 / unknown service {name!r} (services: {services})"
UP_ALREADY_RUNNING = ("citywifi up: 已有实例在 {data_dir} 中运行 / an instance is already running in "
                      "{data_dir} (its Redis answers on {socket})")
UP_REDIS_FAILED = ("citywifi up: 内置 Redis 无法启动 / the embedded Redis did not start: {error}\n"
                   "last lines of {log}:\n{tail}")
UP_STOPPED = "citywifi up: 已停止全部服务 / stopped everything"

# citywifi web: refusing to start an unsafe deployment
WEB_NO_PROXY = (
    "citywifi web: web.host = {host!r} 会让手机直接连接 gunicorn，但没有配置前置代理"
    "（web.trusted_proxies 为空）。gunicorn 无法抵御慢速请求头等攻击：请在前面部署 nginx"
    "（deploy/nginx/citywifi.conf），并设置 web.trusted_proxies 与 web.proxy_hops，"
    "或让 web.host 监听 127.0.0.1。\n"
    "citywifi web: web.host = {host!r} lets phones reach gunicorn directly, but no fronting "
    "proxy is configured (web.trusted_proxies is empty). gunicorn alone does not withstand "
    "slow or oversized request headers: put nginx in front (deploy/nginx/citywifi.conf) and "
    "set web.trusted_proxies and web.proxy_hops, or listen on 127.0.0.1 (web.host).")
WEB_NO_PUBLIC_URL = (
    "citywifi web: web.public_url 为空：重定向和链接将取自客户端发送的 Host 头。"
    "请设置手机访问门户的地址，例如 public_url = \"http://10.0.0.1\""
    "（仅演示模式 web.demo 可留空）。\n"
    "citywifi web: web.public_url is empty, so redirects and links would be built from the "
    "Host header the client sends. Set it to the address phones reach the portal at, e.g. "
    "public_url = \"http://10.0.0.1\" (only demo mode, web.demo, may leave it empty).")
