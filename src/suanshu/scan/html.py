"""A standalone HTML scan report: one file, inline CSS and SVG charts, no script, no CDN, so it
can be mailed, archived with the asset, or opened offline by a reviewer."""

from __future__ import annotations

from html import escape

PI_COLOR = {"none": "#6b8e23", "personal": "#d48806", "sensitive": "#cf1322"}
TYPE_COLORS = ("#1677ff", "#13c2c2", "#722ed1", "#eb2f96", "#fa8c16", "#52c41a", "#2f54eb", "#a0d911",
               "#fa541c", "#08979c", "#9254de", "#f759ab")
CSS = """body{font:14px/1.5 system-ui,'PingFang SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#fafafa}.pi{color:#fff;border-radius:3px;padding:0 6px}
.col{border:1px solid #eee;border-radius:6px;padding:8px 12px;margin:12px 0}small{color:#666}"""


RATIO_ROOM = 55  # pixels for "100.0%" in 12 px type, after a bar


def _bars(items: list[tuple[str, float]], width: int = 420) -> str:
    """A horizontal bar chart (ratios 0..1) as inline SVG."""
    if not items:
        return "<small>no findings</small>"
    h = 20
    rows = []
    for i, (label, ratio) in enumerate(items):
        y = i * h
        w = max(1, round(ratio * (width - 150 - RATIO_ROOM)))  # the ratio's text fits after the longest bar
        rows.append(
            f'<text x="0" y="{y + 14}" font-size="12">{escape(label)}</text>'
            f'<rect x="150" y="{y + 3}" width="{w}" height="{h - 6}" fill="{TYPE_COLORS[i % len(TYPE_COLORS)]}"/>'
            f'<text x="{155 + w}" y="{y + 14}" font-size="12">{ratio:.1%}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h * len(items)}" '
            f'role="img">{"".join(rows)}</svg>')


def _types(column: dict) -> str:
    return ", ".join(f"{t['type']} {t['ratio']:.0%}" for t in column["types"])


def render(report: dict) -> str:
    cols = report["columns"]
    summary = "".join(
        f"<tr><td>{escape(c['name'])}</td><td><span class=pi style='background:{PI_COLOR[c['pi']]}'>"
        f"{c['pi']}</span></td><td>{c['grade']}</td><td>{escape(', '.join(c.get('categories', [])))}</td>"
        f"<td>{_types(c)}</td></tr>" for c in cols)
    sections = []
    for c in cols:
        q = c.get("quality", {})
        quality = ("<table><tr>" + "".join(f"<th>{k}</th>" for k in q) + "</tr><tr>"
                   + "".join(f"<td>{escape(str(v))}</td>" for v in q.values()) + "</tr></table>") if q else ""
        bars = [(t["type"], t["ratio"]) for t in c["types"]]
        chart = _bars(bars + ([("null", q["null_ratio"])] if q.get("null_ratio") else []))
        evidence = "; ".join(f"{e['source']}: {e['match']} → {e['pi']}" for e in c.get("evidence", []))
        sections.append(f"<div class=col><h3>{escape(c['name'])} <span class=pi style='background:"
                        f"{PI_COLOR[c['pi']]}'>{c['pi']}</span> <small>{c['grade']}</small></h3>{chart}"
                        f"<p><small>{escape(evidence) or 'no evidence'}</small></p>{quality}</div>")
    ds = report.get("dataset", {})
    kanon = report.get("k_anonymity")
    kanon_html = (f"<h2>k-anonymity</h2><p>quasi-identifiers {escape(', '.join(kanon['columns']))}: "
                  f"<b>k = {kanon['k']}</b> over {kanon['classes']} classes; rows in classes below 2/5/10: "
                  f"{kanon['rows_below']['2']}/{kanon['rows_below']['5']}/{kanon['rows_below']['10']}</p>") if kanon else ""
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>安全检测报告 {escape(report['source'])}</title><style>{CSS}</style></head><body>
<h1>数据安全检测报告 · Security scan</h1>
<p><b>{escape(report['source'])}</b> · encoding {escape(str(report['encoding']))} · {report['rows']} rows ·
grade <b>{report['grade']}</b> ({escape(ds.get('basis', 'GB/T 43697-2024'))}) · {report['findings_total']} findings
{' · sampled' if report.get('sampled') else ''}{' · <b>important-data candidate: review</b>' if ds.get('important_candidate') else ''}</p>
<table><tr><th>column</th><th>PI</th><th>grade</th><th>categories</th><th>types</th></tr>{summary}</table>
{kanon_html}<h2>Columns</h2>{''.join(sections)}
<p><small>PI labels per PIPL Art. 28 and GB/T 35273-2020 Annex B; grades per GB/T 43697-2024.</small></p>
</body></html>
"""
