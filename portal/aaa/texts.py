"""Why AAA said no, in the phone user's words (zh, en): quota refusals and RADIUS reject reasons.

Audience: the phone user. The RADIUS server sends these as Reply-Message (``radius.auth_replies``
renders them; an AC may show the text or hand it back to the portal), and the portal shows a
quota refusal's ``message_zh`` / ``message_en`` (``portal.aaa.grants.QuotaRefusal``). They live
here, in the lowest package both ``radius`` and the portal may import. What the login pages say
for the same codes is ``portal/web/errors.py`` (the phone's error-code catalog); the other areas
keep their own ``texts.py`` / ``*_texts.py`` catalogs (docs/architecture.md, "Where words live").
"""

from __future__ import annotations

__all__ = ["DEVICE_MISMATCH_MESSAGE", "PLAN_LIMIT_LABELS", "REFUSAL_MESSAGES", "REJECT_MESSAGES"]

# code → (Chinese, English). Shown by the portal and sent as Reply-Message.
REFUSAL_MESSAGES: dict[str, tuple[str, str]] = {
    "expired": ("您的套餐已过期", "Your plan has expired."),
    "daily_time_used": (
        "今日上网时长已用完，请明天再来", "Today's online time is used up. Please come back tomorrow."
    ),
    "total_time_used": ("套餐上网时长已用完", "Your plan's online time is used up."),
    "daily_volume_used": (
        "今日流量已用完，请明天再来", "Today's data allowance is used up. Please come back tomorrow."
    ),
    "total_volume_used": ("套餐流量已用完", "Your plan's data allowance is used up."),
    "too_many_devices": (
        "同时在线设备已达上限，请先下线其他设备", "Too many devices online. Log out another device first."
    ),
    "no_plan": ("当前网络暂无可用套餐", "No plan is available on this network."),
}

# What the RADIUS server says in its Reply-Message for a DeviceMismatch and the portal
# recognises in the AC's TextInfo, so the phone reads why (zh, en).
DEVICE_MISMATCH_MESSAGE = (
    "接入控制器报告的设备地址（MAC）与登录页面所写的不一致，不能用另一台设备的身份上网",
    "The access controller reports another device address (MAC) than the login page named: "
    "you cannot go online as another device",
)

# Reject reasons radius.auth decides (quota reasons: REFUSAL_MESSAGES above).
REJECT_MESSAGES: dict[str, tuple[str, str]] = {
    "invalid_credential": (
        "登录凭证无效或已过期，请重新获取验证码",
        "Invalid or expired login credential. Please request a new code.",
    ),
    "reused_credential": (
        "登录凭证已使用，请重新获取验证码",
        "This login credential was already used. Please request a new code.",
    ),
    "blocked": (
        "该号码或设备已被停止上网服务，请联系客服",
        "This number or device is blocked. Please contact customer service.",
    ),
    "device_mismatch": DEVICE_MISMATCH_MESSAGE,    # the AC reports another MAC than the token's
    "unsupported_method": (
        "不支持的认证方式",
        "Unsupported authentication method.",
    ),
}


# A plan's limits by name (``portal.aaa.plan_limits.PLAN_LIMITS``), as the NOC's plan form and
# plan list name them.
PLAN_LIMIT_LABELS: dict[str, tuple[str, str]] = {
    "up_kbps": ("上行速率", "Upload rate"),
    "down_kbps": ("下行速率", "Download rate"),
    "session_timeout": ("单次在线上限", "Session limit"),
    "idle_timeout": ("空闲下线", "Idle timeout"),
    "daily_time": ("每日时长", "Time per day"),
    "total_time": ("总时长", "Total time"),
    "daily_volume": ("每日流量", "Data per day"),
    "total_volume": ("总流量", "Total data"),
    "validity_days": ("有效天数（自首次登录）", "Valid for (days from first login)"),
    "max_sessions": ("同时在线设备数", "Concurrent devices"),
    "interim_interval": ("计费更新间隔", "Interim interval"),
    "mac_binding_days": ("免短信天数", "Device remembered for"),
}
