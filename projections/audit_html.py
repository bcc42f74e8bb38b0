"""The audit as one self-contained HTML file a registrar can open and print (no scripts, no
external styles or fonts)."""

from __future__ import annotations

import json

from html import escape
from typing import Any

from projections.audit import _rule_text

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1b1b1b}
h1{font-size:1.5rem;margin:0 0 .2rem} h2{font-size:1.1rem;margin:1.6rem 0 .4rem;border-bottom:1px solid #ccc}
.decision{padding:.8rem 1rem;border-radius:6px;background:#eef6ee;border:1px solid #8bbf8b}
.decision.flagged,.decision.revoked{background:#fff4e5;border-color:#e0a050}
table{border-collapse:collapse;width:100%;margin:.3rem 0 1rem;font-size:12.5px}
th,td{border:1px solid #d0d0d0;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.hash{font-family:ui-monospace,monospace;font-size:11px}
tr.voided td{text-decoration:line-through;color:#8a3b3b}
.verified{padding:.7rem 1rem;border-radius:6px;font-weight:600;background:#e8f4ea;border:1px solid #6aa86f}
.failed{padding:.7rem 1rem;border-radius:6px;font-weight:600;background:#fbe9e9;border:1px solid #c55}
.muted{color:#666} @media print{body{margin:0;max-width:none} h2{break-after:avoid}}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def render_html(audit: dict[str, Any]) -> str:
    d, c = audit["decision"], audit["course"]
    state_class = "flagged" if d["flags"] else ("revoked" if d["revocations"] else "")
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Credit audit {_e(audit['learner_id'])} "
             f"{_e(c['course_id'])}</title><style>{STYLE}</style></head><body>",
             f"<h1>Credit audit: {_e(audit['learner_id'])} in {_e(c['course_id'])} — {_e(c['title'])}</h1>",
             "<p class=muted>Built from the ledger's stored events; every hash below was recomputed.</p>",
             f"<h2>Decision</h2><div class='decision {state_class}'><strong>{_e(d['status']).upper()}</strong>: "
             f"{_e(d['credits'])} credit(s). {_e(d['type'])} <code>{_e(d['event_id'])}</code> recorded "
             f"{_e(d['recorded_at'])}" + (f", approved by <strong>{_e(d['approved_by'])}</strong>" if d["approved_by"] else "")
             + f".<br>Rule: {_e(_rule_text(d['rule']))} (version {_e(d['rule']['version'])}); "
             f"states as of log position {_e(d['log_position'])}."]
    parts += [f"<br>⚑ {_e(flag)}" for flag in d["flags"]]
    parts += [f"<br>Revoked: {_e(r['reason'])}" for r in d["revocations"]]
    parts.append("</div>")
    v = audit["verification"]
    # The verdict stands at the top as well as at the end: the first thing a registrar reads.
    parts.append(f"<p class={'verified' if v['ok'] else 'failed'} id=verification-summary>{_e(v['line'])}</p>")
    parts.append("<h2>Competencies and the evidence that counted</h2>")
    for comp in audit["competencies"]:
        level = f"{comp['level']:.2f}" if comp["level"] is not None else "–"
        parts.append(f"<h3>{_e(comp['competency_id'])} {_e(comp['title'])}</h3><p>Level {level}, "
                     f"{'mastered' if comp['mastered'] else 'not mastered'}, "
                     f"{'counted toward the credit' if comp['counted'] else 'not counted'}; method "
                     f"{_e(comp['method']['name'])} {_e(comp['method']['params'])}"
                     + (f"; CASE item {_e(comp['case_guid'])}" if comp.get("case_guid") else "") + "</p>")
        parts.append("<table class=evidence><tr><th>event</th><th>type</th><th>demonstrated</th><th>recorded</th>"
                     "<th>score / sign-off</th><th>recorded by</th><th>position</th><th>sha256</th></tr>")
        for e in comp["evidence"]:
            what = e["score"] if e.get("score") is not None else f"{e.get('decision')} by {e.get('actor_id')}"
            parts.append(f"<tr><td class=hash>{_e(e['event_id'])}</td><td>{_e(e['type'])}</td>"
                         f"<td>{_e(e['demonstrated_at'][:10])}</td><td>{_e((e['recorded_at'] or '')[:19])}</td>"
                         f"<td>{_e(what)}</td><td class=source>{_e(e.get('source_line', ''))}</td>"
                         f"<td>{_e(e['position'])}</td><td class=hash>{_e(e['hash'])}</td></tr>")
        for v in comp["voided"]:
            parts.append(f"<tr class=voided><td class=hash>{_e(v['event_id'])}</td><td>{_e(v['type'])}</td>"
                         f"<td colspan=2>voided {_e(v['voided_at'][:19])}</td><td>{_e(v['score'])}</td>"
                         f"<td colspan=3>{_e(v['reason'])}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Timeline</h2><table><tr><th>recorded</th><th>demonstrated</th><th>event</th><th>type</th>"
                 "<th>by</th></tr>")
    for t in audit["timeline"]:
        parts.append(f"<tr><td>{_e(t['recorded_at'][:19])}</td><td>{_e(t['demonstrated_at'][:10])}</td>"
                     f"<td class=hash>{_e(t['event_id'])}</td><td>{_e(t['type'])}</td><td>{_e(t['actor'])}</td></tr>")
    parts.append("</table><h2>Verification</h2>")
    v = audit["verification"]
    parts.append(f"<div class={'verified' if v['ok'] else 'failed'} id=verification>{_e(v['line'])}</div>")
    parts += [f"<p>{_e(p)}</p>" for p in v["problems"][1:]]
    from projections.audit import anchor_line

    # The anchor itself (checkpoint and proofs), as JSON a holder can save and check offline.
    anchor = audit.get("anchor")
    parts.append(f"<h2>Anchor</h2><p id=anchor-summary>{_e(anchor_line(anchor))}</p>")
    if anchor and not anchor.get("unavailable"):
        parts.append(f"<pre id=anchor class=hash>{_e(json.dumps(anchor, indent=1))}</pre>")
    parts.append("</body></html>\n")
    return "".join(parts)
