"""What the NOC console and API tell a NOC operator about kicks, plan changes and jobs (zh + en).

Audience: the NOC operator (and API clients reading ``message`` / ``message_zh``). Entries are
``(zh, en)`` pairs keyed by the outcome codes :mod:`portal.noc.kick` records; a text with
parameters is a ``str.format`` template with named fields (:func:`portal.texts.fill`). The other
catalogs: ``portal/texts.py`` lists them.
"""

from __future__ import annotations

__all__ = ["JOB_BUSY", "KICK_OUTCOMES", "PLAN_APPLICATION", "PLAN_CHANGE", "PLAN_SESSION_OUTCOMES"]

# How a kick ended (KickResult.outcome; ``no_remote_logout`` by gateway kind).
KICK_OUTCOMES: dict[str, tuple[str, str]] = {
    "dm": ("已通过 RFC 5176 断开请求（DM）下线", "Disconnected via RFC 5176 Disconnect-Request (DM)"),
    "portal": ("已通过 Portal 协议下线请求（REQ_LOGOUT）下线", "Logged out via Portal REQ_LOGOUT"),
    "controller": ("已在网关控制器上取消授权（unauthorize-guest）",
                   "Unauthorised on the gateway's controller (unauthorize-guest)"),
    "gone": ("AC 报告该会话已不存在（用户已下线）",
             "The AC reports the session no longer exists (already offline)"),
    "refused": ("AC 拒绝断开（Error-Cause {error_cause}），用户仍在线",
                "The AC refused the disconnect (Error-Cause {error_cause}); still online"),
    "not_found": ("AC 报告找不到该会话（Error-Cause 503），但计费显示用户仍在线，可能未下线；"
                  "请核对 AC 的 RFC 5176 会话标识",
                  "The AC reports no such session (Error-Cause 503) but accounting shows it "
                  "online; the user may still be online: check the AC's RFC 5176 identifiers"),
    "no_answer": ("AC 未响应，用户可能仍在线", "The AC did not answer; the user may still be online"),
    "unknown_ac": ("未知的 AC，无法下线", "Unknown AC; cannot disconnect"),
    "no_remote_logout/omada+openapi": (
        "该网关（Omada 外部门户 API）不支持从外部下线用户，用户仍在线："
        "会话将在授权时长结束时终止；其用量由 Open API 读取，"
        "在授权结束时计入每日配额",
        "This gateway (Omada's external-portal API) cannot be told to drop a "
        "client from outside; the user is still online until the authorised "
        "time runs out. Its usage is read through the Open API and booked to "
        "the daily quota when the authorisation ends"),
    "no_remote_logout/omada": (
        "该网关（Omada 外部门户 API）不支持从外部下线用户，用户仍在线："
        "会话将在授权时长结束时终止；该 API 也不回报用户流量，"
        "其用量不计入每日配额（可为该网关配置 Open API 应用）",
        "This gateway (Omada's external-portal API) cannot be told to drop a "
        "client from outside; the user is still online until the authorised "
        "time runs out. That API reports no usage either: this client's "
        "traffic is not booked to the daily quota (give the entry an Open "
        "API application)"),
    "no_remote_logout/opennds": (
        "该网关（openNDS 9.10）不支持从外部下线用户，用户仍在线："
        "会话将在登录时下发的时长或流量限额用完时结束；"
        "如需立即下线，请在网关上执行 ndsctl deauth <用户 IP>",
        "This gateway (openNDS 9.10) cannot be told to drop a client from "
        "outside; the user is still online until the session length or data "
        "quota given at login runs out. To end it now, run `ndsctl deauth "
        "<client IP>` on the gateway"),
}

# How a changed plan reached one live session (PlanOutcome.outcome).
PLAN_SESSION_OUTCOMES: dict[str, tuple[str, str]] = {
    "coa": ("新套餐已通过 CoA 应用到在线会话", "The new plan was applied to the live session via CoA"),
    "next_login": ("该 AC 不支持 RFC 5176（CoA），新套餐将在下次登录时生效",
                   "This AC has no RFC 5176 (CoA); the new plan applies at the next login"),
    "coa_failed": ("AC 未确认 CoA，新套餐将在下次登录时生效",
                   "The AC did not acknowledge the CoA; the new plan applies at the next login"),
    "disconnected": ("新套餐的额度已用完，会话已下线",
                     "The new plan's allowance is used up; the session was disconnected"),
    "disconnect_failed": ("新套餐的额度已用完，但 AC 未确认下线",
                          "The new plan's allowance is used up, but the AC did not confirm "
                          "the disconnect"),
    "superseded": ("套餐又被修改，由新的修改任务处理",
                   "The plan was changed again; the newer change takes over"),
}

# One phone's plan override changed (PlanChange).
PLAN_CHANGE: dict[str, tuple[str, str]] = {
    "removed": ("已取消指定套餐（按规则分配）；在线会话保持不变。",
                "Plan override removed (rules decide); online sessions are left as they are."),
    "set": ("套餐已改为 {plan}；{total} 个在线会话中 {ok} 个已应用。",
            "Plan set to {plan}; applied to {ok} of {total} online sessions."),
}

# A plan's change applied to all its sessions (PlanApplication): the summary, then the parts
# that apply, then the end.
PLAN_APPLICATION: dict[str, tuple[str, str]] = {
    "summary": ("套餐 {plan}：{total} 个在线会话，{coa} 个已通过 CoA 应用新限制，"
                "{disconnected} 个已超出新限制并下线",
                "Plan {plan}: {total} online sessions; {coa} got the new "
                "limits by CoA, {disconnected} were past them and were disconnected"),
    "kept": ("，{kept} 个的 AC 未接受 CoA，保持原限制直到下线（新限制在下次登录时生效）",
             "; {kept} on ACs that took no CoA keep their previous limits until they end "
             "(the new ones apply at the next login)"),
    "disconnect_failed": ("，{failed} 个已超出新限制但 AC 未确认下线",
                          "; {failed} are past the new limits but the AC did not "
                          "confirm the disconnect"),
    "end": ("。", "."),
}

JOB_BUSY = ("后台任务过多，请稍后重试", "Too many background jobs are waiting; try again shortly")
