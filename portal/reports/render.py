"""A report as charts and files: inline SVG drawn on the server (no script, prints as is), CSV
for Excel and an .xlsx workbook (openpyxl).

Labels come from administrators (venue ids, AC names, SSIDs, campaign ids): SVG text is escaped
here; CSV and spreadsheet cells that start like a formula are prefixed with ``'`` so a
spreadsheet shows them as text (the log export does the same, portal/legal/logexport.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape

from portal.reports.query import FIGURES
from portal.reports.texts import EXPORT_LABELS

__all__ = ["bar_chart", "csv_text", "series_chart", "table_rows", "xlsx_bytes"]

_FORMULA_START = frozenset("=+-@\t\r")
Tr = Callable[[str, str], str]


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def series_chart(points: Sequence[tuple[str, float]], *, title: str, width: int = 600,
                 height: int = 220) -> str:
    """Columns over days (label, value), with the largest value marked on the axis."""
    pad_l, pad_b, pad_t = 48, 28, 24
    top = max((v for _, v in points), default=0) or 1
    inner_w, inner_h = width - pad_l - 8, height - pad_b - pad_t
    step = inner_w / max(len(points), 1)
    bars = []
    for i, (label, value) in enumerate(points):
        h = inner_h * value / top
        x = pad_l + i * step
        bars.append(f'<rect x="{x + step * 0.1:.1f}" y="{pad_t + inner_h - h:.1f}" '
                    f'width="{max(step * 0.8, 1):.1f}" height="{h:.1f}" class="bar">'
                    f'<title>{escape(label)}: {value:g}</title></rect>')
        if len(points) <= 16 or i % max(1, len(points) // 8) == 0:
            bars.append(f'<text x="{x + step / 2:.1f}" y="{height - 8}" class="tick" '
                        f'text-anchor="middle">{escape(label[5:])}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'class="report-chart" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
            f'<text x="{pad_l}" y="16" class="title">{escape(title)}</text>'
            f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 8}" '
            f'y2="{pad_t + inner_h}" class="axis"/>'
            f'<text x="{pad_l - 6}" y="{pad_t + 10}" class="tick" text-anchor="end">{top:g}</text>'
            f'<text x="{pad_l - 6}" y="{pad_t + inner_h}" class="tick" text-anchor="end">0</text>'
            + "".join(bars) + "</svg>")


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, width: int = 600,
              limit: int = 12) -> str:
    """Horizontal bars, largest first (the first ``limit``)."""
    items = sorted(items, key=lambda kv: -kv[1])[:limit]
    row, pad_l, pad_t = 22, 160, 24
    height = pad_t + row * max(len(items), 1) + 8
    top = max((v for _, v in items), default=0) or 1
    out = []
    for i, (label, value) in enumerate(items):
        y = pad_t + i * row
        w = (width - pad_l - 70) * value / top
        out.append(f'<text x="{pad_l - 6}" y="{y + 15}" class="tick" text-anchor="end">'
                   f'{escape(label[:24])}</text><rect x="{pad_l}" y="{y + 3}" width="{w:.1f}" '
                   f'height="{row - 6}" class="bar"/><text x="{pad_l + w + 4:.1f}" y="{y + 15}" '
                   f'class="tick">{value:g}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'class="report-chart" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
            f'<text x="8" y="16" class="title">{escape(title)}</text>' + "".join(out) + "</svg>")


def table_rows(report: dict[str, Any], tr: Tr) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per day, then the totals."""
    header = [tr(*EXPORT_LABELS["day"])] + [tr(zh, en) for _, zh, en in FIGURES]
    rows = [[point["day"]] + [point[name] for name, _, _ in FIGURES] for point in report["series"]]
    rows.append([tr(*EXPORT_LABELS["total"])] + [report["totals"][name] for name, _, _ in FIGURES])
    return header, rows


def _breakdown_rows(report: dict[str, Any], tr: Tr) -> Iterable[list[Any]]:
    for label, docs in report["breakdown"].items():
        for name, doc in docs.items():
            yield [label, name] + [doc[n] for n, _, _ in FIGURES]


def csv_text(report: dict[str, Any], tr: Tr) -> str:
    """The table (and the breakdown) as CSV with a BOM, so Excel reads the Chinese right."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    header, rows = table_rows(report, tr)
    w.writerow(header)
    w.writerows([[_cell(v) for v in row] for row in rows])
    if report["breakdown"]:
        w.writerow([])
        w.writerow([tr(*EXPORT_LABELS["by"]), tr(*EXPORT_LABELS["name"]), *header[1:]])
        w.writerows([[_cell(v) for v in row] for row in _breakdown_rows(report, tr)])
    return "\ufeff" + buf.getvalue()


def xlsx_bytes(report: dict[str, Any], tr: Tr) -> bytes:
    """A workbook: the daily table, the breakdown, refusals and campaigns on their own sheets."""
    from openpyxl import Workbook  # only exports need it

    wb = Workbook()
    ws = wb.active
    ws.title = tr(*EXPORT_LABELS["daily"])
    header, rows = table_rows(report, tr)
    ws.append(header)
    for row in rows:
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = "B2"
    if report["breakdown"]:
        sheet = wb.create_sheet(tr(*EXPORT_LABELS["breakdown"]))
        sheet.append([tr(*EXPORT_LABELS["by"]), tr(*EXPORT_LABELS["name"]), *header[1:]])
        for row in _breakdown_rows(report, tr):
            sheet.append([_cell(v) for v in row])
    sheet = wb.create_sheet(tr(*EXPORT_LABELS["refusals_and_ads"]))
    sheet.append([tr(*EXPORT_LABELS["refusal_reason"]), tr(*EXPORT_LABELS["count"])])
    for reason, n in sorted(report["refusals"].items()):
        sheet.append([_cell(reason), n])
    sheet.append([])
    sheet.append([tr(*EXPORT_LABELS[k]) for k in ("campaign", "impressions", "completed_views", "clicks")])
    for campaign, c in sorted(report["campaigns"].items()):
        sheet.append([_cell(campaign), c["imp"], c["view"], c["click"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
