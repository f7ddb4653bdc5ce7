"""What the simulated AC writes into its replies' TextInfo attributes, as an AC's firmware would.

Audience: whoever reads an AC's reply text — the portal's logs and, passed on, the phone user.
Each entry is ONE wire string, English first then Chinese ("en / zh"), because a real AC sends a
single text attribute; tests match these bytes. The adapters' own user texts are in
``ac_adapters/texts.py``; the portal's catalogs are listed there.
"""

from __future__ import annotations

__all__ = ["BAD_REQID", "MISSING_CREDENTIALS", "NO_LEASE", "RADIUS_TIMEOUT", "UNKNOWN_USER", "WRONG_PASSWORD"]

RADIUS_TIMEOUT = "AC201 RADIUS server timeout / RADIUS 服务器无响应"
MISSING_CREDENTIALS = "missing credentials / 缺少用户名或密码"
NO_LEASE = "AC102 user IP not leased by this AC / 用户 IP 不在本 AC 地址池"
BAD_REQID = "no valid challenge for this ReqID / ReqID 无效或挑战已过期"
# local_users mode: the RADIUS decision made inside the simulator.
UNKNOWN_USER = "unknown user / 用户不存在"
WRONG_PASSWORD = "wrong password / 密码错误"
