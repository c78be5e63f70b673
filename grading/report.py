"""What did the class get wrong? Class analytics from the verdict store (instructor only).

    python -m grading report            # in the course directory -> reports/index.html

One page per assignment (reports/<assignment>.html) and an index. Each assignment page shows
the score distribution, every test cell's and every hidden case's failure rate, the class's most
common mistakes in words (the judge's likely causes, counted per student), which hidden cases
separate stronger from weaker submissions, the grading time per notebook, the students who need
attention (low scores, crashes, timeouts), and shared answers to look at together.

The pages work offline: no script, no external link, figures inlined as PNG. Everything that
comes from a student (ids, messages) is escaped by the template engine (autoescape).

Shared answers: two or three students whose *wrong* answers to the same salted hidden cases
are bit-for-bit identical, on at least `min_cases` cases, where the judge names no known mistake
for that answer (known mistakes compute the same numbers for everyone who makes them, and an
answer shared by more than `max_group` students is a common mistake, shown with the mistakes);
and byte-identical submitted notebooks. Both are listed as things to look at together, with the
evidence, never as a finding.
"""
import base64
import io
import itertools
import json
import os
import time
from collections import defaultdict

from . import cases, store

TOP = 0.27  # the classical upper and lower 27% groups for a case's discrimination


# ----------------------------------------------------------------------------- analysis
def analyse(nbs, by_nb, max_group=3, min_cases=2, release_sha=()):
    """The numbers of one assignment's page (plain data; rates are exact fractions n / N)."""
    students = sorted({nb["student"] for nb in nbs})
    N = len(students)
    score, best = defaultdict(float), defaultdict(float)
    cell_fail, cell_pts, wall, attention = defaultdict(set), {}, {}, defaultdict(list)
    case_info, case_fail, case_pass = {}, defaultdict(set), defaultdict(set)
    mistakes, classes = defaultdict(set), defaultdict(set)
    wrong = defaultdict(set)  # (grade_id, fn, case, outputs_sha) -> students (unexplained)
    for nb in nbs:
        s = nb["student"]
        for gid, cell in nb["cells"].items():
            score[s] += cell.get("score") or 0.0
            best[s] += cell.get("points") or 0.0
            cell_pts[gid] = cell.get("points") or 0.0
            if not cell.get("passed"):
                cell_fail[gid].add(s)
        if nb["wall_s"] is not None:
            wall[s] = wall.get(s, 0.0) + nb["wall_s"]
        if nb["info"]:
            attention[s].append(f"{nb['notebook']}: {nb['info']}")
        for row in by_nb.get(nb["id"], ()):
            key = (row["grade_id"], row["call"], row["k"])
            case_info.setdefault(key, (row["fn"], row["case"]))
            (case_pass if row["passed"] else case_fail)[key].add(s)
            if row["passed"]:
                continue
            if row["cause"]:
                for cause in row["cause"].split(" | "):
                    mistakes[(row["fn"], cause)].add(s)
            else:
                classes[(row["fn"], row["error_class"] or "failed")].add(s)
                if row["outputs_sha"] and row["status"] == "ok":
                    wrong[(row["grade_id"], row["fn"], row["case_json"],
                           row["outputs_sha"])].add(s)
            if row["error_class"] in ("timeout", "crashed", "library call"):
                note = f"{row['fn']}: {row['error_class']}"
                if note not in attention[s]:
                    attention[s].append(note)
    for s in students:
        if best[s] and score[s] < 0.5 * best[s]:
            attention[s].insert(0, f"score {score[s]:g} of {best[s]:g}")
    ranked = sorted(students, key=lambda s: score[s])
    k = max(1, round(TOP * N))
    low, high = set(ranked[:k]), set(ranked[-k:])
    case_rows = []
    for key in sorted(case_info):
        fn, case = case_info[key]
        failed = case_fail[key]
        seen = failed | case_pass[key]
        pass_hi = len(high & case_pass[key]) / max(1, len(high & seen))
        pass_lo = len(low & case_pass[key]) / max(1, len(low & seen))
        case_rows.append({"grade_id": key[0], "n": key[2] + 1, "fn": fn,
                          "case": cases.describe(fn, case), "failed": len(failed),
                          "seen": len(seen), "discrimination": pass_hi - pass_lo})
    return {
        "N": N, "students": students, "scores": [score[s] for s in students],
        "max_score": max(best.values(), default=0.0),
        "cells": [{"grade_id": g, "points": cell_pts[g], "failed": len(cell_fail[g])}
                  for g in sorted(cell_pts)],
        "cases": case_rows,
        "mistakes": sorted(({"fn": fn, "cause": c, "n": len(v)} for (fn, c), v in
                            mistakes.items()), key=lambda m: (-m["n"], m["fn"], m["cause"])),
        "classes": sorted(({"fn": fn, "error_class": c, "n": len(v)} for (fn, c), v in
                           classes.items()), key=lambda m: (-m["n"], m["fn"])),
        "wall": [wall[s] for s in students if s in wall],
        "attention": [{"student": s, "why": attention[s], "score": score[s], "max": best[s]}
                      for s in ranked if attention[s]],
        "shared": shared_answers(wrong, max_group, min_cases),
        "identical": identical_notebooks(nbs, release_sha),
    }


def shared_answers(wrong, max_group=3, min_cases=2):
    """Pairs of students with >= min_cases identical unexplained wrong answers, each answer shared
    by at most max_group students -> [{'students': (a, b), 'evidence': [(grade_id, case)]}]."""
    pairs = defaultdict(list)
    for (gid, fn, case_json, _sha), studs in wrong.items():
        if 2 <= len(studs) <= max_group:
            what = (gid, f"{fn} on {cases.describe(fn, json.loads(case_json))}")
            for a, b in itertools.combinations(sorted(studs), 2):
                pairs[(a, b)].append(what)
    return [{"students": ab, "evidence": sorted(ev)} for ab, ev in sorted(pairs.items())
            if len(ev) >= min_cases]


def identical_notebooks(nbs, release_sha=()):
    """Groups of students whose submitted notebook files are byte-identical (the unchanged
    release itself excluded)."""
    groups = defaultdict(set)
    for nb in nbs:
        if nb["nb_sha256"] and nb["nb_sha256"] not in release_sha:
            groups[(nb["notebook"], nb["nb_sha256"])].add(nb["student"])
    return [{"notebook": n, "sha256": sha, "students": sorted(v)}
            for (n, sha), v in sorted(groups.items()) if len(v) > 1]


# ----------------------------------------------------------------------------- figures
def _png(fig):
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figures(a):
    """The page's figures as data: URIs, drawn in the course's plot style."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cs231n_lib import plot
    plot.use_style()
    out = {}
    fig, ax = plt.subplots(figsize=(6, 3.2))
    top = a["max_score"] or 1
    ax.hist(a["scores"], bins=min(20, max(5, int(top))), range=(0, top), color=plot.COLORS[0])
    ax.set(xlabel="autograded score", ylabel="students",
           title=f"Scores ({a['N']} students, out of {top:g})")
    out["scores"] = _png(fig)
    labels = [c["grade_id"] for c in a["cells"]]
    rates = [100 * c["failed"] / max(1, a["N"]) for c in a["cells"]]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(labels) + 1.2))
    plot.bar_chart(labels, rates, ax=ax, value_fmt="{:.0f}%", horizontal=True,
                   title="Test cells: students failing", colors=[plot.COLORS[1]] * len(labels))
    out["cells"] = _png(fig)
    labels = [f"{c['grade_id']} #{c['n']}" for c in a["cases"]]
    rates = [100 * c["failed"] / max(1, c["seen"]) for c in a["cases"]]
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(labels) + 1.2))
    plot.bar_chart(labels, rates, ax=ax, value_fmt="{:.0f}%", horizontal=True,
                   title="Hidden cases: students failing", colors=[plot.COLORS[1]] * len(labels))
    out["cases"] = _png(fig)
    fig, ax = plt.subplots(figsize=(6, 3.0))
    ax.hist(a["wall"] or [0.0], bins=20, color=plot.COLORS[2])
    ax.set(xlabel="seconds in the sandbox", ylabel="notebooks", title="Grading time per notebook")
    out["wall"] = _png(fig)
    return out


# ----------------------------------------------------------------------------- pages
_CSS = """body{font:15px/1.45 system-ui,sans-serif;color:#333;max-width:60em;margin:2em auto;
padding:0 1em}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid
#ddd;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f4f4f4}
img{max-width:100%;display:block;margin:.5em 0 1.5em}.note{color:#666}.num{text-align:right}"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{{ title }}</title><style>{{ css }}</style></head><body>
{% if assignment is none %}
<h1>Class report</h1>
<p class="note">Generated {{ when }} from the verdict store. One page per assignment.</p>
<table><tr><th>assignment</th><th class="num">students</th><th class="num">mean score</th>
<th class="num">need attention</th><th class="num">shared answers</th></tr>
{% for r in rows %}<tr><td><a href="{{ r.href }}">{{ r.name }}</a></td><td class="num">{{ r.N }}</td>
<td class="num">{{ "%.1f"|format(r.mean) }} / {{ "%g"|format(r.max) }}</td>
<td class="num">{{ r.attention }}</td><td class="num">{{ r.shared }}</td></tr>{% endfor %}
</table>
{% else %}
<p><a href="index.html">All assignments</a></p>
<h1>{{ assignment }}: what did the class get wrong?</h1>
<p class="note">{{ a.N }} students. Generated {{ when }}.</p>
<h2>Scores</h2><img alt="score distribution" src="{{ fig.scores }}">
<h2>Most common mistakes</h2>
{% if a.mistakes %}<ul>{% for m in a.mistakes %}
<li><b>{{ pct(m.n) }}</b> ({{ m.n }} of {{ a.N }}) &mdash; {{ m.fn }}: {{ m.cause }}</li>
{% endfor %}</ul>{% else %}<p>No named mistakes.</p>{% endif %}
{% if a.classes %}<p>Failures without a named cause:</p><ul>{% for m in a.classes %}
<li>{{ pct(m.n) }} ({{ m.n }} of {{ a.N }}) &mdash; {{ m.fn }}: {{ m.error_class }}</li>
{% endfor %}</ul>{% endif %}
<h2>Test cells</h2><img alt="failure rate per test cell" src="{{ fig.cells }}">
<h2>Hidden cases</h2><img alt="failure rate per hidden case" src="{{ fig.cases }}">
<p>Cases that best separate stronger from weaker submissions (pass rate of the top {{ top }}%
minus the bottom {{ top }}% by score):</p>
<table><tr><th>test cell</th><th>case</th><th class="num">failing</th><th class="num">separation</th></tr>
{% for c in separating %}<tr><td>{{ c.grade_id }} #{{ c.n }}</td><td>{{ c.fn }}: {{ c.case }}</td>
<td class="num">{{ c.failed }} of {{ c.seen }}</td><td class="num">{{ "%+.2f"|format(c.discrimination) }}</td></tr>
{% endfor %}</table>
<h2>Grading time</h2><img alt="grading time per notebook" src="{{ fig.wall }}">
<h2>Students who need attention</h2>
{% if a.attention %}<table><tr><th>student</th><th class="num">score</th><th>why</th></tr>
{% for r in a.attention %}<tr><td>{{ r.student }}</td><td class="num">{{ "%g"|format(r.score) }} / {{ "%g"|format(r.max) }}</td>
<td>{{ r.why|join("; ") }}</td></tr>{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
<h2>Shared answers: look at these together</h2>
<p class="note">Identical wrong answers are unlikely to arise independently on salted hidden
cases, and identical files may have many explanations (a shared starting point, a resubmission
by a partner). These are prompts to look at the notebooks side by side, not findings.</p>
{% if a.shared %}<table><tr><th>students</th><th>identical wrong answers on</th></tr>
{% for p in a.shared %}<tr><td>{{ p.students|join(" and ") }}</td>
<td>{% for gid, what in p.evidence[:4] %}{{ gid }}: {{ what }}<br>{% endfor %}
{% if p.evidence|length > 4 %}and {{ p.evidence|length - 4 }} more hidden cases{% endif %}</td></tr>{% endfor %}
</table>{% else %}<p>No identical wrong answers shared by a few students.</p>{% endif %}
{% if a.identical %}<table><tr><th>students</th><th>byte-identical notebook</th></tr>
{% for g in a.identical %}<tr><td>{{ g.students|join(" and ") }}</td>
<td>{{ g.notebook }}.ipynb (SHA-256 {{ g.sha256[:16] }}&hellip;)</td></tr>{% endfor %}
</table>{% else %}<p>No byte-identical notebooks.</p>{% endif %}
{% endif %}
</body></html>
"""


def _env():
    import jinja2
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def page(assignment, a, fig, when):
    pct = lambda n: f"{100 * n / max(1, a['N']):.{0 if n >= 0.1 * a['N'] else 1}f}%"  # noqa: E731
    separating = sorted(a["cases"], key=lambda c: -c["discrimination"])[:8]
    return _env().from_string(_PAGE).render(
        title=f"{assignment}: class report", css=_CSS, assignment=assignment, a=a, fig=fig,
        when=when, pct=pct, separating=separating, top=round(100 * TOP))


def safe_name(assignment):
    """A file name for an assignment's page (nbgrader's ids are plain, but never trust that)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in assignment).lstrip(".")


def write_reports(db_url, out_dir, assignments=None, release_sha=None, log=print):
    """Write out_dir/index.html and one page per assignment -> {assignment: analysis}."""
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    names = assignments or store.assignments(db_url)
    rows, results = [], {}
    for name in names:
        nbs, by_nb = store.load(db_url, name)
        a = analyse(nbs, by_nb, release_sha=(release_sha or {}).get(name, ()))
        results[name] = a
        fname = safe_name(name) + ".html"
        with open(os.path.join(out_dir, fname), "w", encoding="utf-8") as f:
            f.write(page(name, a, figures(a), when))
        rows.append({"name": name, "href": fname, "N": a["N"], "max": a["max_score"],
                     "mean": sum(a["scores"]) / max(1, a["N"]),
                     "attention": len(a["attention"]),
                     "shared": len(a["shared"]) + len(a["identical"])})
    with open(os.path.join(out_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write(_env().from_string(_PAGE).render(title="Class report", css=_CSS, assignment=None,
                                                 rows=rows, when=when))
    log(f"wrote {os.path.join(out_dir, 'index.html')} and {len(rows)} assignment page(s) in "
        f"{time.perf_counter() - t0:.1f} s")
    return results


def release_hashes(root):
    """{assignment: {sha256 of each released notebook}}: an untouched release is no evidence."""
    import hashlib
    out = defaultdict(set)
    rel = os.path.join(root, "assignments")
    for dirpath, _, files in os.walk(rel):
        for f in files:
            if f.endswith(".ipynb"):
                with open(os.path.join(dirpath, f), "rb") as fh:
                    out[os.path.relpath(dirpath, rel).split(os.sep)[0]].add(
                        hashlib.sha256(fh.read()).hexdigest())
    return dict(out)

