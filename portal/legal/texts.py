"""What the NOC reads about the legal logs: archive integrity and refused exports (zh + en).

Audience: the NOC operator exporting the real-name and accounting logs (the export page and
``/api/v1/logs``), and whoever runs ``citywifi logs verify``. Entries are ``(zh, en)`` pairs; a
text with parameters is a ``str.format`` template with named fields. The other catalogs:
``portal/texts.py`` lists them.
"""

from __future__ import annotations

__all__ = ["DAY_PROBLEM", "EXPORT_ERRORS", "PROBLEM_LIST", "SEAL_PROBLEMS", "TAMPERED"]

# Why an archived day fails the integrity check (portal.legal.archive_seal), and how a list of
# them is written: "<stream> <day>: <what>" joined by PROBLEM_LIST after TAMPERED.
SEAL_PROBLEMS: dict[str, tuple[str, str]] = {
    "base_invalid": ("归档链起点校验失败（被修改，或非持有密钥者写入）",
                     "the chain base does not verify (edited, or written without the key)"),
    "day_missing": ("当日归档文件缺失（被删除？）", "the day file is missing (deleted?)"),
    "not_sealed": ("当日归档没有封签（被删除？）", "the day is not sealed (seal deleted?)"),
    "seal_invalid": ("封签校验失败（无密钥重新签名，或被修改）",
                     "the seal does not verify (re-sealed without the key, or edited)"),
    "content_changed": ("内容已被改动（记录被修改或删除）",
                        "the content changed (a record was edited or deleted)"),
    "previous_missing": ("链上前一天（{day}）的归档缺失",
                         "the day before it in the chain ({day}) is missing"),
    "chain_broken": ("归档链断裂：前一天的归档被替换、重签或删除",
                     "the chain is broken: the day before it was replaced, re-sealed or removed"),
    "newest_missing": ("最近封存的一天缺失（被删除？）", "the newest sealed day is missing (deleted?)"),
    "newest_replaced": ("最近封存的一天被替换", "the newest sealed day was replaced"),
    "seal_mismatch": ("内容与封签不符", "the content does not match its seal"),
}
DAY_PROBLEM = ("{stream} {day}：{what}", "{stream} {day}: {what}")
PROBLEM_LIST = ("；", "; ")
TAMPERED = ("日志归档完整性校验失败（可能被篡改）：", "archive integrity check failed: ")

# A log export refused (portal.legal.logexport.ExportRequestError), by reason.
EXPORT_ERRORS: dict[str, tuple[str, str]] = {
    "to_before_from": ("结束日期（{last}）早于开始日期（{first}）",
                       "'to' ({last}) is before 'from' ({first})"),
    "bad_stream": ("没有名为 {stream!r} 的日志", "unknown log {stream!r}; expected one of {streams}"),
    "bad_format": ("不支持的格式 {fmt!r}，请用 csv 或 jsonl",
                   "unknown format {fmt!r}; expected csv or jsonl"),
    "bad_filter": ("{stream} 日志不支持按 {name} 筛选", "filter {name!r} does not apply to the {stream} log"),
    "bad_mac": ("MAC 地址格式不正确：{mac!r}", "not a MAC address: {mac!r}"),
    "bad_range": ("结束时间必须晚于开始时间", "the end of the range must be after its start"),
}
