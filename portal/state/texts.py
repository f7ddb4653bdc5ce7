"""What a CLI user reads when no citywifi instance can be found (zh + en).

Audience: the operator running a ``citywifi`` command that needs Redis. The message is ONE
string, a Chinese paragraph then an English one; its parameter is a named ``str.format`` field.
The other catalogs: ``portal/texts.py`` lists them.
"""

from __future__ import annotations

__all__ = ["NO_INSTANCE"]

# portal.state.instance.redis_url_for: neither a Redis URL nor an embedded Redis in the data dir.
NO_INSTANCE = (
    "没有正在运行的 citywifi 实例：{data_dir} 中没有内置 Redis 在运行。请在该目录运行 `citywifi up`，"
    "或配置 Redis 地址（redis.url / CITYWIFI_REDIS_URL）或 CITYWIFI_DATA_DIR。\n"
    "no citywifi instance is running: no embedded Redis answers in {data_dir}. Start one with "
    "`citywifi up` (in that directory), or set a Redis URL (redis.url / CITYWIFI_REDIS_URL) "
    "or CITYWIFI_DATA_DIR."
)
