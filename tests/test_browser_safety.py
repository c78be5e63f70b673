"""Nothing a student wrote runs in the instructor's or a student's browser (grading/html_safety.py).

End to end, in a real browser: a course under tmp with two students, "victim" (the reference
solution, full marks) and "attacker" (a bug that loses points, plus a notebook full of HTML
payloads: markdown, raw cells, attachments, metadata). Each payload, if it runs, opens a dialog,
sets a window flag, the document title and a DOM marker, fetches a URL carrying this run's token,
rewrites every grade through the formgrader API (the attacker's to full marks, the victim's to 0)
and writes a file through Jupyter's contents API. After `nbgrader autograde` and
`generate_feedback`, a real Jupyter server with nbgrader's formgrader is started and headless
Chromium (Debian's, driven by Playwright) opens the attacker's formgrader submission page and both
feedback pages. Nothing may run: no dialog, no request carrying the token, no write request, no
marker, no file, the gradebook unchanged, and each feedback page shows the gradebook's score,
visible and not covered.

To see the attack work, run it with the sanitiser switched off:
    SANITIZE_HTML=0 .venv/bin/python -m pytest tests/test_browser_safety.py -k browser
Screenshots go to pytest's tmp folder (the path is printed).

Under CI=true a missing chromium, Playwright or sandbox is a failure, not a skip.
"""
import base64
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from assignments_helpers import (build_submission, env, make_course, nbgrader, snippets_for,
                                 solution_functions, submit)
from grading.html_safety import SanitizeHTML, render_markdown, sanitize_markdown

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FAST = ["--SandboxedExecute.cell_timeout=6", "--SandboxedExecute.case_timeout=3",
        "--SandboxedExecute.wall_s=150"]
ASSIGNMENT = "pooling"
STUDENTS = ("victim", "attacker", "faker")  # faker: only a style that fakes the feedback score
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
           "RU5ErkJggg==")


def _need(ok, why):
    if ok:
        return
    if CI:
        pytest.fail(f"CI must be able to run the browser tests: {why}")
    pytest.skip(why)


# ----------------------------------------------------------------------------- the payloads
def attack_js(token, kind, server):
    """What every payload runs: each effect is something the test can observe. Synchronous
    requests, so that a payload that navigates the page away cannot cut another one short."""
    return f"""(function () {{
  var t = '{token}', k = '{kind}', s = '{server}', q = 'pwned=' + t;
  window['pwned_' + t] = k; document.title = 'PWNED ' + t;
  var d = document.createElement('div'); d.id = 'pwned-' + t; d.textContent = k;
  if (document.body) document.body.appendChild(d);
  var m = document.cookie.match(/_xsrf=([^;]+)/);
  function call(method, url, body) {{
    try {{
      var x = new XMLHttpRequest(); x.open(method, s + url, false); x.withCredentials = true;
      x.setRequestHeader('Content-Type', 'application/json');
      if (m) x.setRequestHeader('X-XSRFToken', decodeURIComponent(m[1]));
      x.send(body ? JSON.stringify(body) : null);
      return JSON.parse(x.responseText);
    }} catch (e) {{ return []; }}
  }}
  call('GET', '/pwned-' + t + '-' + k);
  call('PUT', '/api/contents/pwned-' + t + '-' + k + '.txt?' + q,
       {{type: 'file', format: 'text', content: k}});
  var nbs = call('GET', '/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}?' + q);
  for (var i = 0; i < nbs.length; i++) {{
    var grades = call('GET', '/formgrader/api/grades?submission_id=' + nbs[i].id + '&' + q);
    for (var j = 0; j < grades.length; j++) {{
      if (!grades[j].max_score) continue;
      call('PUT', '/formgrader/api/grade/' + grades[j].id + '?' + q,
           {{manual_score: nbs[i].student === 'attacker' ? grades[j].max_score : 0,
             extra_credit: 0}});
    }}
  }}
  alert('pwned ' + t + ' ' + k);
}})()"""


def _run(token, kind, server):
    """A one-attribute-safe expression running attack_js (no quotes, spaces or brackets of HTML)."""
    b64 = base64.b64encode(attack_js(token, kind, server).encode()).decode()
    return f"eval(atob('{b64}'))"


def markdown_payloads(token, server):
    """{kind: markdown source}: raw HTML and markdown that would run, fetch or fake a score."""
    r = lambda kind: _run(token, kind, server)  # noqa: E731
    return {
        "script": f"Intro.\n\n<script>{r('script')}</script>",
        "img-onerror": f'Look: <img src="x-{token}" onerror="{r("img-onerror")}">',
        "svg-onload": f'<svg onload="{r("svg-onload")}"><circle r="4"/></svg>',
        "js-link": f'<a id="js-link" href="javascript:{r("js-link")}">open</a> and '
                   f"[md link](<javascript:{r('md-link')}>)",
        "iframe-srcdoc": f'<iframe srcdoc="<script>{r("iframe").replace(chr(39), "&#39;")}'
                         f'</script>"></iframe>',
        "details-ontoggle": f'<details open ontoggle="{r("details")}"><summary>s</summary>'
                            'x</details>',
        "input-onfocus": f'<input autofocus onfocus="{r("onfocus")}">',
        "body-onload": f'<body onload="{r("body-onload")}">',
        "object-embed": f'<object data="{server}/pwned-{token}-object"></object>'
                        f'<embed src="{server}/pwned-{token}-embed">',
        "meta-refresh": f'<meta http-equiv="refresh" content="0;url={server}/pwned-{token}-meta">',
        "form": f'<form id="f-{token}" action="{server}/api/contents/pwned-{token}-form" '
                f'method="post"><input name="x" value="1"><button>Save</button></form>',
        "base": f'<base href="{server}/pwned-{token}-base/">',
        "link-css": f'<link rel="stylesheet" href="{server}/pwned-{token}-css">',
        "remote-img": f"![chart]({server}/pwned-{token}-img.png)",
        "mxss": f'<noscript><p title="</noscript><img src=x onerror={r("mxss")}>"></noscript>'
                f'<math><mtext><table><mglyph><style><img src=x onerror="{r("mxss2")}">',
        "fake-score": '<style>h4, .panel-heading { display: none !important; }</style>'
                      '<div class="pull-right" style="position: fixed; top: 0; left: 0; '
                      'width: 100%; background: white; z-index: 9999; font-size: 20px">'
                      f'{ASSIGNMENT} (Score: 999.0 / 999.0) FAKE-{token}</div>',
    }


def attacker_notebook(nb, token, server):
    """The attacker's submission: their (buggy) code plus every payload."""
    cells = [nbformat.v4.new_markdown_cell(src)
             for src in markdown_payloads(token, server).values()]
    r = lambda kind: _run(token, kind, server)  # noqa: E731
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{r("svg-attachment")}"/>'
    att = nbformat.v4.new_markdown_cell("![a](attachment:evil.svg) ![b](attachment:fake.png)")
    att.attachments = {"evil.svg": {"image/svg+xml": base64.b64encode(svg.encode()).decode()},
                       "fake.png": {"image/png": base64.b64encode(
                           f'"><script>{r("fake-png")}</script>'.encode()).decode()}}
    ok = nbformat.v4.new_markdown_cell("![ok](attachment:ok.png) a pasted image")
    ok.attachments = {"ok.png": {"image/png": PNG_1PX}}
    raw = nbformat.v4.new_raw_cell(f"<script>{r('raw')}</script>"
                                   f"<img src=x onerror=\"{r('raw2')}\">")
    raw.metadata["raw_mimetype"] = "text/html"
    tagged = nbformat.v4.new_markdown_cell("Tagged cell")
    tagged.metadata["tags"] = [f'x" onmouseover="{r("tag")}']
    tagged.metadata["jupyter"] = {"source_hidden": f"<img src=x onerror={r('jupyter')}>"}
    nb.cells = cells + [att, ok, raw, tagged] + nb.cells
    nb.metadata["title"] = f"</title><script>{r('title')}</script>"
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {"w": {
            "model_name": "HTMLModel", "model_module": "@jupyter-widgets/controls",
            "model_module_version": "2.0.0",
            "state": {"value": f"<img src=x onerror=\"{r('widget')}\">"}}}}}
    return nb


# ----------------------------------------------------------------------------- unit level
class _Active(HTMLParser):
    """Anything in rendered HTML that could run, load or restyle by itself (the test's oracle)."""

    BAD_TAGS = {"script", "iframe", "svg", "math", "style", "link", "meta", "base", "object",
                "embed", "form", "button", "body", "noscript", "frame", "frameset", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BAD_TAGS:
            self.found.append(f"<{tag}>")
        for k, v in attrs:
            v = (v or "").strip().lower()
            if k.startswith("on") or k in ("srcdoc", "formaction", "style", "autofocus"):
                self.found.append(f"{tag} {k}")
            if k in ("href", "src", "data", "action") and "script:" in v.replace("\t", ""):
                self.found.append(f"{tag} {k}=javascript:")
            if k in ("src", "data") and not v.startswith(("data:image/png", "data:image/jpeg")):
                self.found.append(f"{tag} {k}={v[:30]} (loads a URL)")
            if k == "class" and set(v.split()) & {"pull-right", "score", "panel-heading"}:
                self.found.append(f"{tag} class={v}")


def active_content(fragment):
    parser = _Active()
    parser.feed(fragment)
    parser.close()
    return parser.found


def _export_cells(nb):
    """The notebook as nbconvert's classic HTML template renders it (markdown unsanitised, as in
    nbgrader's templates, which extend it)."""
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="classic")
    body, _ = exporter.from_notebook_node(nb)
    return body


def _sanitized(nb, caplog):
    pre = SanitizeHTML()
    with caplog.at_level(logging.INFO):
        nb, _ = pre.preprocess(nb, {"nbgrader": {"student": "attacker", "assignment": ASSIGNMENT,
                                                 "notebook": ASSIGNMENT}})
    return nb


def test_every_payload_is_neutralised(caplog):
    token, server = "tok123", "http://127.0.0.1:9"
    payloads = markdown_payloads(token, server)
    for kind, src in payloads.items():
        # each payload really is active without the sanitiser (so the check below can fail)
        assert active_content(render_markdown(src)), f"{kind}: the payload is not active at all"
    nb = attacker_notebook(nbformat.v4.new_notebook(), token, server)
    caplog.clear()
    nb = _sanitized(nb, caplog)
    for cell, kind in zip(nb.cells, payloads):
        found = active_content(render_markdown(cell.source, cell.get("attachments")))
        assert not found, f"{kind}: still active after sanitising: {found}\n{cell.source}"
        assert "The autograder removed HTML" in cell.source, kind
    body = _export_cells(nb).split("<body", 1)[1]  # the head holds the exporter's own scripts
    found = active_content(body)
    assert not found, f"the exported page still has active content: {found}"
    assert "javascript:" not in body.lower() and "onerror=" not in body.lower()
    assert "widgets" not in nb.metadata and "title" not in nb.metadata
    att = nb.cells[len(payloads)]
    assert "attachments" not in att, "SVG and fake PNG attachments must be dropped"
    ok = nb.cells[len(payloads) + 1]
    assert list(ok.attachments) == ["ok.png"]
    assert ok.source == "![ok](attachment:ok.png) a pasted image"
    raw = nb.cells[len(payloads) + 2]
    assert "<script" not in raw.source and "onerror" not in raw.source
    assert "raw_mimetype" not in raw.metadata
    tagged = nb.cells[len(payloads) + 3]
    assert tagged.metadata["tags"] == [] and tagged.metadata["jupyter"] == {}
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for i, kind in enumerate(payloads):
        assert any(f"cell {i} " in m for m in warned), f"no warning names cell {i} ({kind})"
    assert any("widgets" in m and "title" in m for m in warned), warned


ORDINARY = [
    "# Convolution, naive\n\nWrite `conv_forward_naive`; it returns `(out, cache)`.",
    "## Shapes\n\n- `x`: `(N, C, H, W)`\n- `w`: `(F, C, HH, WW)`\n\n1. pad\n2. slide",
    "Output size: $H' = 1 + (H + 2P - HH) / S$, and $$\\sum_{i<j} a_{ij} > 0$$",
    "\\begin{align}a &< b \\\\ c &> d\\end{align}",
    "Use `a < b` and `x<y>z` in code, \"quotes\", it's & more; 3 < 4 > 2.",
    "```python\nfor i in range(N):\n    if a < b:\n        out[i] = x[i]\n\n    print('done')\n```",
    "| layer | time |\n|:--|--:|\n| conv | 1.2 s |\n| pool | 0.1 s |",
    "> **Note:** ~~slow~~ *fast*.\n\n---\n\nSee [CS231n](https://cs231n.github.io/) or "
    "[the section](#Shapes), mail <teacher@example.org>.",
    "- [x] forward\n- [ ] backward",
    "Line one  \nline two",
    "**bold** <b>and</b> <i>italic</i>, H<sub>2</sub>O, x<sup>2</sup>, a<br>b",
    "<details><summary>Hint</summary>Think about padding.</details>",
    '## Result\n\nHe said "it works"<br>then **left**; H<sub>2</sub>O, <b>bold</b>, <i>it</i>.',
    "| a | b |\n|---|---|\n| x<sup>2</sup> | <b>y</b> |",
    "![pasted](attachment:ok.png)",
]


def test_ordinary_markdown_is_unchanged(caplog):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) for src in ORDINARY]
    nb.cells[-1].attachments = {"ok.png": {"image/png": PNG_1PX}}
    nb.cells.append(nbformat.v4.new_raw_cell("Notes: x & y, 3 > 2"))
    before = [dict(c) for c in nbformat.from_dict(json.loads(json.dumps(nb))).cells]
    nb = _sanitized(nb, caplog)
    for cell, old in zip(nb.cells, before):
        assert cell.source == old["source"], \
            f"ordinary markdown changed:\n{old['source']}\n->\n{cell.source}"
        assert cell.get("attachments") == old.get("attachments")
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text


@pytest.mark.parametrize("source", [
    '"q" </div></div></div>closes the page\'s containers',
    '"q" <b onclick="alert(1)">b</b>',
    '"q" <B ONCLICK=alert(1)>b</B>',
    '"q" <img src="x-remote.png">',
    '"q" <!-- --!><img src=x onerror=alert(1)> -->',
    '# Title <img src=x onerror=alert(1)>',
    '"q" <a href="java&#x09;script:alert(1)">x</a>',
    '"q" <span style="position:fixed;top:0">Score: 999</span>',
])
def test_raw_html_mixed_with_markdown_is_trusted_only_piece_by_piece(source):
    """Text with a quote makes the rendering differ from its cleaned form, so these cells take
    the piece-by-piece path: each must still be rewritten, and nothing active may remain."""
    new, _ = sanitize_markdown(source)
    assert new != source
    assert not active_content(render_markdown(new)), render_markdown(new)


def test_sanitising_twice_changes_nothing_more(caplog):
    """Feedback sanitises the autograded notebook again: no second rewrite, no warning."""
    nb = _sanitized(attacker_notebook(nbformat.v4.new_notebook(), "t0", "http://127.0.0.1:9"),
                    caplog)
    once = json.dumps(nb, sort_keys=True)
    caplog.clear()
    nb = _sanitized(nb, caplog)
    assert json.dumps(nb, sort_keys=True) == once
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_outputs_and_metadata_keep_only_inert_parts(caplog):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("x")
    js = "<img src=x onerror=alert(1)>"
    code.outputs = [
        nbformat.v4.new_output("display_data", {"text/html": js,
                                                "image/svg+xml": f"<svg>{js}</svg>",
                                                "application/javascript": "alert(1)",
                                                "text/markdown": js, "text/latex": "$x$",
                                                "text/plain": "<Figure>",
                                                "image/png": PNG_1PX},
                               metadata={"image/png": {"width": 10, "filenames": "x"},
                                         "text/html": {"isolated": True}}),
        nbformat.v4.new_output("display_data", {"application/vnd.jupyter.widget-view+json":
                                                {"model_id": "w"}}),
        nbformat.v4.new_output("display_data", {"image/png": "\"><script>alert(1)</script>"}),
        nbformat.v4.new_output("stream", name="stdout", text="a < b\n"),
        nbformat.v4.new_output("error", ename="E", evalue="<b>", traceback=["<i>tb</i>"]),
    ]
    code.metadata.update({"nbgrader": {"grade": True, "grade_id": "test_x", "points": 2,
                                       "solution": False, "locked": True, "schema_version": 3,
                                       "score": 2, "comment": "<script>alert(1)</script>"},
                          "tags": ["ok-tag", "bad\"tag"], "magics_language": "html",
                          "jupyter": {"source_hidden": True, "x": "<b>"}})
    code.id = "bad id\"><script>"
    nb.cells = [code]
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "<script>"}
    nb = _sanitized(nb, caplog)
    outs = nb.cells[0].outputs
    assert [o.output_type for o in outs] == ["display_data", "stream", "error"]
    assert set(outs[0].data) == {"text/plain", "image/png"}
    assert outs[0].metadata == {"image/png": {"width": 10}}
    meta = nb.cells[0].metadata
    assert meta == {"nbgrader": {"grade": True, "grade_id": "test_x", "points": 2,
                                 "solution": False, "locked": True, "schema_version": 3},
                    "tags": ["ok-tag"], "jupyter": {"source_hidden": True}}
    assert nb.cells[0].id.isalnum()
    assert nb.metadata["language_info"] == {"name": "python"}


def test_malformed_parts_are_dropped_with_a_warning_not_a_crash(caplog):
    """A hand-edited notebook may hold anything where nbformat expects a dict or a string."""
    nb = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": "python3", "language_info": {"name": 5}}, "cells": [
        {"cell_type": "markdown", "source": ["<b>a</b>", 1], "metadata": {"nbgrader": "x",
         "tags": "abc"}, "attachments": {"a": "not a bundle", "b": {"image/png": 5}}},
        {"cell_type": "code", "source": "x", "metadata": "not a dict", "execution_count": "<b>",
         "outputs": [{"output_type": "display_data", "data": "x"}, 5,
                     {"output_type": "stream", "text": ["a", "b"]}]},
        {"cell_type": "code", "source": "x", "metadata": {}, "outputs": "not a list"},
        {"cell_type": "weird", "source": "<script>alert(1)</script>", "metadata": {}},
    ]})
    nb = _sanitized(nb, caplog)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert nb.cells[0].source == "<b>a</b>1" and nb.cells[0].metadata == {}
    assert "attachments" not in nb.cells[0]
    assert nb.cells[1].execution_count is None and nb.cells[1].metadata == {}
    assert nb.cells[1].outputs == [{"output_type": "stream", "name": "stdout", "text": "ab"}]
    assert nb.cells[2].outputs == [] and nb.metadata == {}
    warned = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    for phrase in ("metadata 'nbgrader' of the wrong type", "attachment 'a'",
                   "an output that is not a JSON object", "unknown type 'weird'",
                   "dropped notebook metadata kernelspec"):
        assert phrase in warned, f"{phrase!r} not in:\n{warned}"


# ----------------------------------------------------------------------------- in a browser
def _sandbox_ready():
    from grading import sandbox
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        _need(False, f"autograding needs the sandbox: {exc}")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Formgrader:
    """A real Jupyter server with nbgrader's formgrader, in the course directory; always stopped."""

    def __init__(self, course, workdir, port, timeout=60):
        self.port, self.token = port, uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(workdir) / "jupyter_server.log", "w")
        runtime = Path(workdir) / "jupyter_runtime"
        args = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
                f"--port={self.port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={course}",
                "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--allow-root")
        self.proc = subprocess.Popen(args, cwd=course, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env(JUPYTER_RUNTIME_DIR=runtime,
                                             JUPYTER_CONFIG_DIR=Path(workdir) / "jupyter_config"))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"the Jupyter server exited ({self.proc.returncode}):\n"
                                     + self.log_text())
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                            timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the Jupyter server did not answer in {timeout} s:\n"
                                     + self.log_text())
            time.sleep(0.3)

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text()[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _gradebook_ids(course):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, s).id for s in STUDENTS}


def _totals(course):
    """{student: (score, max_score)} of the notebook, from the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        out = {}
        for s in STUDENTS:
            nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, s)
            out[s] = (nb.score, nb.max_score)
        return out


def _watch(page, events):
    def dialog(d):
        events["dialogs"].append(d.message)
        try:
            d.dismiss()
        except Exception:  # noqa: BLE001 -- the payload navigated the page away meanwhile
            pass
    page.on("dialog", dialog)
    page.on("request", lambda r: events["requests"].append((r.method, r.url)))
    page.on("popup", lambda p: events["popups"].append(p.url))


def _open(page, url, token, shots, name):
    """Load a page, let timers and event handlers fire, check its DOM, save a screenshot."""
    page.goto(url, wait_until="load", timeout=30_000)
    try:
        page.wait_for_load_state("networkidle", timeout=5_000)
    except Exception:  # noqa: BLE001 -- a page that keeps a connection open is still checked
        pass
    page.wait_for_timeout(1_000)
    state = page.evaluate("""t => ({title: document.title, flag: window['pwned_' + t] || null,
        marker: !!document.getElementById('pwned-' + t),
        notebook: !!document.querySelector('#notebook-container'),
        text: document.body ? document.body.innerText : '',
        jsLinks: Array.from(document.querySelectorAll('a[href]')).filter(
            a => a.href.replace(/\\s/g, '').toLowerCase().startsWith('javascript:')).length})""",
                          token)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    return state


def _feedback_header(page):
    """The feedback page's score heading: its text, whether it is visible and on top."""
    return page.evaluate("""() => {
        const h = document.querySelector('.panel-heading h4');
        if (!h) return null;
        const r = h.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + Math.min(r.width, 40) / 2,
                                              r.top + r.height / 2);
        return {text: h.innerText, visible: !!(r.width && r.height) &&
                getComputedStyle(h).visibility !== 'hidden', onTop: !!top && h.contains(top)};
    }""")


def test_nothing_a_student_wrote_runs_in_formgrader_or_feedback_browser(tmp_path):
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the Python package playwright is missing (pip install playwright)")
    _sandbox_ready()
    sanitize = os.environ.get("SANITIZE_HTML", "1") != "0"
    switch = [] if sanitize else ["--SanitizeHTML.enabled=False"]
    shots = tmp_path / "browser_artefacts"
    shots.mkdir()
    print(f"\nbrowser screenshots and server log: {shots}")

    course = make_course(tmp_path)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    submit(course, "victim", ASSIGNMENT, build_submission(
        ASSIGNMENT, solution_functions(ASSIGNMENT), course=course))
    buggy = {**solution_functions(ASSIGNMENT), **snippets_for(ASSIGNMENT)["bug_pool_average"][2]}
    token, port = uuid.uuid4().hex[:12], _free_port()
    attacker = attacker_notebook(build_submission(ASSIGNMENT, buggy, course=course), token,
                                 f"http://127.0.0.1:{port}")  # the formgrader below
    submit(course, "attacker", ASSIGNMENT, attacker)
    faker = build_submission(ASSIGNMENT, buggy, course=course)  # nothing that navigates away
    faker.cells.insert(0, nbformat.v4.new_markdown_cell(
        "Intro.\n\n" + markdown_payloads(token, f"http://127.0.0.1:{port}")["fake-score"]))
    submit(course, "faker", ASSIGNMENT, faker)
    log = nbgrader("autograde", ASSIGNMENT, *FAST, *switch, cwd=course).stdout
    nbgrader("generate_feedback", ASSIGNMENT, *switch, cwd=course)
    if sanitize:
        assert "SanitizeHTML attacker/" in log and "removed" in log, log[-3000:]
        assert "SanitizeHTML victim/" not in log, "the honest notebook must pass untouched"
    before = _totals(course)
    assert before["victim"][0] == before["victim"][1] > before["attacker"][0], before
    assert before["faker"] == before["attacker"], before
    ids = _gradebook_ids(course)

    server = Formgrader(course, shots, port)
    try:
        events = {"dialogs": [], "requests": [], "popups": []}
        states = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                         timeout=30_000)
            try:
                context = browser.new_context()
                # nothing leaves the machine (MathJax's CDN): abort, but the request is recorded
                local = ("http://127.0.0.1", "file:", "data:")
                context.route("**/*", lambda route: route.continue_()
                              if route.request.url.startswith(local) else route.abort())
                page = context.new_page()
                _watch(page, events)
                page.goto(f"{server.url}/formgrader?token={server.token}", wait_until="load",
                          timeout=30_000)
                events["requests"].clear()
                states["formgrader"] = _open(
                    page, f"{server.url}/formgrader/submissions/{ids['attacker']}/", token, shots,
                    "formgrader_attacker")
                for student in STUDENTS:
                    path = course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
                    states[f"feedback_{student}"] = _open(page, path.as_uri(), token, shots,
                                                          f"feedback_{student}")
                    states[f"feedback_{student}"]["header"] = _feedback_header(page)
            finally:
                browser.close()
    finally:
        server.stop()
    print(f"server log: {shots / 'jupyter_server.log'}")

    problems = []
    if events["dialogs"]:
        problems.append(f"dialogs opened: {events['dialogs']}")
    ours = [(m, u) for m, u in events["requests"] if token in u]
    if ours:
        problems.append(f"requests made by the payloads: {ours[:8]}")
    writes = [(m, u) for m, u in events["requests"] if m not in ("GET", "HEAD")]
    if writes:
        problems.append(f"write requests from the pages: {writes[:8]}")
    if events["popups"]:
        problems.append(f"windows opened: {events['popups']}")
    for name, st in states.items():
        if not st["notebook"] or (name != "feedback_victim" and "Intro." not in st["text"]):
            problems.append(f"{name}: the page does not show the attacker's notebook")
        if st["flag"] or st["marker"] or "PWNED" in st["title"]:
            problems.append(f"{name}: a payload ran: {st}")
        if st["jsLinks"]:
            problems.append(f"{name}: {st['jsLinks']} javascript: links")
    written = list(course.rglob(f"*pwned-{token}*"))
    if written:
        problems.append(f"files written through the contents API: {written}")
    after = _totals(course)
    if after != before:
        problems.append(f"the gradebook changed: {before} -> {after}")
    for student in STUDENTS:
        head = states[f"feedback_{student}"]["header"]
        score, max_score = before[student]
        want = f"(Score: {round(score, 2)} / {round(max_score, 2)})"
        if not head or want not in head["text"] or not head["visible"] or not head["onTop"]:
            problems.append(f"feedback_{student}: the gradebook's score {want} is not what the "
                            f"page shows on top: {head}")
        if "999" in (head or {}).get("text", ""):
            problems.append(f"feedback_{student}: fake score in the heading")
    assert not problems, "\n".join(problems) + f"\nscreenshots: {shots}"
