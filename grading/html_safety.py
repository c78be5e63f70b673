"""Nothing a student wrote runs in anyone's browser (docs/SECURITY.md, the formgrader section).

nbgrader's formgrader and feedback templates render a notebook's markdown as raw HTML (they bypass
nbconvert's `sanitize_html`), so a `<script>` or `<img onerror=...>` in a student's markdown cell
runs in the instructor's browser with the formgrader's rights, and CSS can fake the score shown on a
feedback page. `SanitizeHTML` makes the notebook itself safe, so every later view or export is:

- markdown cells: rendered with nbconvert's own markdown renderer and cleaned with nh3 (ammonia)
  against an allow-list. A cell is kept exactly as written when cleaning removes nothing (ordinary
  markdown: headings, lists, code with `<`, math, tables, links to http(s)/mailto/#anchors, pasted
  images, and raw tags such as `<br>`, `<b>`, `<sub>` written as the allow-list writes them).
  Otherwise its source becomes the cleaned HTML (the same look minus what was removed, with a
  visible note) and a warning names the cell and what was removed; raw HTML that is only
  unbalanced or unusually written is rewritten the same way, logged as info. Images load only from
  the cell's own attachments (`data:` PNG/JPEG/GIF): a remote or relative `src` would make the
  instructor's browser fetch a URL the student chose.
- raw cells: cleaned the same way as HTML when they hold a `<`; their `raw_mimetype`/`format`
  metadata is dropped.
- attachments: only real PNG, JPEG and GIF images (checked by their magic bytes); never SVG or HTML.
- outputs (defence in depth; grading/judge.py already keeps only these): text, PNG/JPEG images,
  errors and streams; every HTML, SVG, JavaScript, markdown, LaTeX or widget output is dropped.
- metadata: the notebook keeps only `kernelspec`, `language_info` (plain names) and `nbgrader`
  (no widget state, which the HTML templates turn into live widgets); cells keep only `nbgrader`
  (known keys; a planted score or comment is dropped, GetGrades puts the gradebook's back), `tags`,
  `jupyter.source_hidden`/`outputs_hidden`, `collapsed`, `scrolled`, `editable`, `deletable`; cell
  ids must be nbformat's `[A-Za-z0-9_-]{1,64}`.

Configured in ../nbgrader_config.py: after SandboxedExecute in autograde, before GetGrades in
feedback.
"""
import base64
import binascii
import hashlib
import html
import json
import re
import uuid
from html.parser import HTMLParser

import nbformat
import nh3
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from nbgrader.preprocessors import NbGraderPreprocessor
from pygments.token import STANDARD_TYPES

# ----------------------------------------------------------------------------- the allow-list
# nh3's default tags (formatting, lists, tables, headings, images, links) without image maps.
TAGS = (set(nh3.ALLOWED_TAGS) - {"area", "map"}) | {"input"}
ATTRIBUTES = {tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}
for _tag, _attrs in {  # what nbconvert's markdown renderer itself writes
    **{f"h{i}": {"id"} for i in range(1, 7)},
    "a": {"title", "class"}, "img": {"title"}, "div": {"class"}, "span": {"class"},
    "pre": {"class"}, "code": {"class"}, "li": {"class"}, "th": {"style"}, "td": {"style"},
    "input": {"class", "type", "disabled", "checked"},
}.items():
    ATTRIBUTES[_tag] = ATTRIBUTES.get(_tag, set()) | _attrs
# Classes the renderer writes (pygments' token classes, anchors, task lists). Nothing else: a
# student's `class="pull-right score"` would borrow the page's own styles to fake a score.
CLASSES = {
    "a": {"anchor-link"}, "div": {"highlight"}, "li": {"task-list-item"},
    "input": {"task-list-item-checkbox"},
    "span": {c for c in STANDARD_TYPES.values() if c}, "pre": set(), "code": set(),
}
_LANGUAGE_CLASS = re.compile(r"language-[\w+#.-]{1,40}")
IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
               "image/gif": (b"GIF87a", b"GIF89a")}
_DATA_IMAGE = re.compile(r"data:(image/(?:png|jpeg|gif));base64,([A-Za-z0-9+/=\s]*)\Z")
_SAFE_HREF = re.compile(r"(?:https?:|mailto:|#)", re.I)
_PLAIN_NAME = re.compile(r"[^<>&\"'`\x00-\x1f]{0,100}\Z")  # no markup, no quotes
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_GRADE_ID = re.compile(r"[\w.-]{1,200}\Z")
NOTE = "<p><em>(The autograder removed HTML from this cell that could run in a browser.)</em></p>"


def image_ok(mime, b64):
    """True when `b64` is base64 of a real `mime` image (PNG, JPEG or GIF, by magic bytes)."""
    if mime not in IMAGE_MAGIC or not isinstance(b64, str) or \
            not re.fullmatch(r"[A-Za-z0-9+/=\s]*", b64):
        return False
    try:
        head = base64.b64decode(b64[:64].strip() + "=" * (-len(b64[:64].strip()) % 4))
    except (binascii.Error, ValueError):
        return False
    return head.startswith(IMAGE_MAGIC[mime])


def _attribute_filter(tag, attr, value):
    if attr == "class":
        allowed = CLASSES.get(tag, set())
        kept = [c for c in value.split() if c in allowed or (tag in ("pre", "code") and
                                                           _LANGUAGE_CLASS.fullmatch(c))]
        return " ".join(kept) or None
    if attr == "style":  # the renderer's table alignment only
        m = re.fullmatch(r"\s*text-align\s*:\s*(left|right|center)\s*;?\s*", value)
        return f"text-align:{m.group(1)}" if m else None
    if attr == "src":  # loads by itself: only an embedded image, never a URL the student chose
        m = _DATA_IMAGE.match(value)
        return value if tag == "img" and m and image_ok(m.group(1), m.group(2)) else None
    if attr == "href":
        return value if _SAFE_HREF.match(value) else None
    if tag == "input" and attr == "type":
        return value if value == "checkbox" else None
    return value


def clean_html(fragment):
    """`fragment` cleaned with nh3 against this module's allow-list (safe in any page body)."""
    return nh3.clean(fragment, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=_attribute_filter,
                     url_schemes={"http", "https", "mailto", "data"}, link_rel=None,
                     strip_comments=True,
                     set_tag_attribute_values={"input": {"type": "checkbox", "disabled": ""}})


# ----------------------------------------------------------------------------- markdown
class _Recorder(IPythonRenderer):
    """nbconvert's markdown renderer, unchanged, noting each piece of raw HTML it passes through."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.raw, self.raw_in_heading = [], False

    def inline_html(self, html):
        self.raw.append(("inline", html))
        return super().inline_html(html)

    def block_html(self, html):
        self.raw.append(("block", html))
        return super().block_html(html)

    def heading(self, text, level, **attrs):
        # nbconvert re-serialises a heading through an XML parser: raw HTML there is not passed
        # through verbatim, so it is never trusted as written
        if any(frag in text for kind, frag in self.raw if kind == "inline"):
            self.raw_in_heading = True
        return super().heading(text, level, **attrs)


def render_markdown(source, attachments=None, escape=False, recorder=None):
    """HTML of a markdown cell as nbconvert's HTML exporter (and so nbgrader's templates) renders
    it; escape=True renders any raw HTML in it as text. `recorder`: a list that receives the
    renderer (its raw HTML pieces)."""
    renderer = _Recorder(escape=escape, attachments=attachments or {}, anchor_link_text="¶")
    if recorder is not None:
        recorder.append(renderer)
    return MarkdownWithMath(renderer=renderer).render(source)


_VOID = {"br", "hr", "img", "wbr", "input", "col"}


def _raw_piece_ok(kind, frag):
    """True when one piece of raw HTML is, exactly as written, something the allow-list keeps:
    an inline tag (opening, closing or void) or a whole block that cleaning leaves unchanged."""
    if kind == "block":
        return clean_html(frag) == frag
    m = re.fullmatch(r"</([a-z][a-z0-9]*)\s*>", frag)
    if m:
        return m.group(1) in TAGS
    m = re.match(r"<([a-z][a-z0-9]*)[\s/>]", frag)
    if not m or m.group(1) not in TAGS:
        return False  # comments, declarations, unknown or upper-case tags
    whole = frag if m.group(1) in _VOID else f"{frag}</{m.group(1)}>"
    return clean_html(whole) == whole


class _Events(HTMLParser):
    """The tags, attributes and text of an HTML fragment, entity forms and quoting normalised."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events = []

    def handle_starttag(self, tag, attrs):
        self.events.append(("<", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self.events.append(("/", tag))

    def handle_data(self, data):
        if self.events and self.events[-1][0] == "t":
            self.events[-1] = ("t", self.events[-1][1] + data)
        else:
            self.events.append(("t", data))

    def handle_comment(self, data):
        self.events.append(("!", data))

    handle_decl = handle_pi = unknown_decl = handle_comment


def _events(fragment):
    parser = _Events()
    parser.feed(fragment)
    parser.close()
    return parser.events


def _balanced(fragment):
    """True when every closing tag closes the innermost open one: raw HTML that closes more than
    it opened would close the page's own containers around the cell."""
    stack = []
    for ev in _events(fragment):
        if ev[0] == "<" and ev[1] not in _VOID:
            stack.append(ev[1])
        elif ev[0] == "/" and (not stack or stack.pop() != ev[1]):
            return False
    return not stack


def _removed(before, after):
    """What cleaning took out, for the log: tags, attributes and URL schemes (a description only;
    safety never depends on it)."""
    def parts(fragment):
        out = set()
        for ev in _events(fragment):
            if ev[0] == "<":
                out.add(f"<{ev[1]}>")
                for k, v in ev[2]:
                    out.add(f"{ev[1]} {k}=" + (v.split(":")[0] + ":" if k in ("href", "src") and
                                               ":" in v else ""))
            elif ev[0] == "!":
                out.add("<!...>")
        return out
    return sorted(parts(before) - parts(after))  # empty: only structure changed (tags balanced)


def _as_block(cleaned, note):
    """Markdown source that renders as exactly `cleaned`: one HTML block (no blank line, so the
    markdown renderer passes it through untouched) that is itself a fixpoint of clean_html."""
    body = (NOTE if note else "") + cleaned.strip()
    body = re.sub(r"\n[ \t]*(?=\n)", "\n<br>", body)  # a blank line would end the HTML block
    return clean_html(f"<div>{body}</div>")


def _as_text(source):
    """The source shown as plain text: for markdown that cannot be rendered at all."""
    return _as_block(f"<pre>{html.escape(source)}</pre>", note=True)


_MEMO = {}          # (source, attachments) digest -> (new source, removed): a class's notebooks
_MEMO_MAX = 20000   # share most markdown cells (the release's), so each is cleaned once per run


def sanitize_markdown(source, attachments=None):
    """(source, removed): `source` unchanged and removed=[] when cleaning takes nothing out of its
    HTML; otherwise a source that renders as the cleaned HTML and a list of what was removed
    (empty when only harmless raw HTML was rewritten). A pure function of its inputs, memoised."""
    key = hashlib.sha256(json.dumps([source, attachments], sort_keys=True,
                                    default=str).encode()).digest()
    hit = _MEMO.get(key)
    if hit is None:
        hit = _sanitize_markdown(source, attachments)
        if len(_MEMO) < _MEMO_MAX:
            _MEMO[key] = hit
    return hit[0], list(hit[1])


def _sanitize_markdown(source, attachments):
    renderers = []
    try:
        rendered = render_markdown(source, attachments, recorder=renderers)
    except Exception as exc:  # e.g. a reference to a missing attachment breaks every export
        return _as_text(source), [f"markdown that cannot be rendered ({type(exc).__name__}: {exc})"]
    cleaned = clean_html(rendered)
    if cleaned == rendered:  # already a sanitiser output: safe as it is
        return source, []
    # The renderer's own markup (raw HTML rendered as text) is escaped and well formed, so
    # comparing its parsed tags and attributes with the cleaned form is reliable. Raw HTML is
    # trusted only piece by piece, each exactly as the allow-list would write it.
    own = render_markdown(source, attachments, escape=True)
    rec = renderers[0]
    if _events(own) == _events(clean_html(own)) and not rec.raw_in_heading and \
            all(_raw_piece_ok(kind, frag) for kind, frag in rec.raw) and _balanced(rendered):
        return source, []
    removed = _removed(rendered, cleaned)
    new = _as_block(cleaned, note=bool(removed))
    try:
        again = render_markdown(new, attachments)
    except Exception:
        again = None
    if again is None or clean_html(again) != again:  # must render as itself, or show as text
        new = _as_text(source)
    return new, removed


# ----------------------------------------------------------------------------- the preprocessor
def _plain(value):
    return isinstance(value, str) and bool(_PLAIN_NAME.match(value))


def _text(value):
    """nbformat's multiline string (a string or a list of lines) as one string."""
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


def _clean_output(out):
    """(output or None, list of what was dropped)."""
    if not isinstance(out, dict):
        return None, ["an output that is not a JSON object"]
    kind = out.get("output_type")
    if kind == "stream":
        name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(out.get("text", ""))}, []
    if kind == "error":
        tb = out.get("traceback", [])
        return {"output_type": "error", "ename": str(out.get("ename", "")),
                "evalue": str(out.get("evalue", "")),
                "traceback": [str(line) for line in tb] if isinstance(tb, list) else []}, []
    if kind not in ("display_data", "execute_result"):
        return None, [f"output of type {kind!r}"]
    data, meta, dropped = {}, {}, []
    bundle = out.get("data") if isinstance(out.get("data"), dict) else {}
    for mime, value in bundle.items():
        if mime == "text/plain" and isinstance(value, (str, list)):
            data[mime] = _text(value)
        elif mime in ("image/png", "image/jpeg") and image_ok(mime, value):
            data[mime] = value
            size = (out.get("metadata") or {}).get(mime)
            size = {k: v for k, v in size.items() if k in ("width", "height") and
                    isinstance(v, int) and not isinstance(v, bool)} \
                if isinstance(size, dict) else {}
            if size:
                meta[mime] = size
        else:
            dropped.append(f"{mime} output")
    if not data:
        return None, dropped or ["an output without data"]
    new = {"output_type": kind, "data": data, "metadata": meta}
    if kind == "execute_result":
        count = out.get("execution_count")
        new["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) \
            else None
    return new, dropped


class SanitizeHTML(NbGraderPreprocessor):
    """Make every part of a notebook that an HTML view renders safe (see the module docstring).

    `--SanitizeHTML.enabled=False` switches it off (tests/test_browser_safety.py uses that to show
    the attack working without it)."""

    NB_KEYS = ("kernelspec", "language_info", "nbgrader")
    NBGRADER_KEYS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task",
                     "checksum", "cell_type")

    def preprocess(self, nb, resources):
        info = (resources or {}).get("nbgrader", {})
        self._who = "/".join(str(info[k]) for k in ("student", "assignment", "notebook")
                             if k in info)
        self._ids = set()
        dropped = []
        for key in list(nb.metadata):
            if key not in self.NB_KEYS:
                del nb.metadata[key]
                dropped.append(key)
        for key, fields in (("kernelspec", ("name", "display_name", "language")),
                            ("language_info", ("name", "version", "file_extension", "mimetype",
                                               "pygments_lexer", "nbconvert_exporter"))):
            value = nb.metadata.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                del nb.metadata[key]
                dropped.append(key)
                continue
            for field in list(value):
                if field not in fields or not _plain(value[field]):
                    del value[field]
                    dropped.append(f"{key}.{field}")
            if not set(fields[:2 if key == "kernelspec" else 1]) <= set(value):
                del nb.metadata[key]  # nbformat requires these; without them, no kernel info
                dropped.append(key)
        if dropped:
            self.log.warning("SanitizeHTML %s: dropped notebook metadata %s", self._who,
                             ", ".join(dropped))
        cells = []
        for index, cell in enumerate(nb.cells):
            if cell.get("cell_type") not in ("markdown", "code", "raw"):
                self.log.warning("SanitizeHTML %s: dropped cell %d of unknown type %r", self._who,
                                 index, cell.get("cell_type"))
                continue
            cells.append(self.preprocess_cell(cell, resources, index)[0])
        nb.cells = cells
        return nb, resources

    def _where(self, cell, index):
        grade_id = (cell.metadata.get("nbgrader") or {}).get("grade_id")
        return (f"{self._who} cell {index} (id {cell.get('id', '-')}"
                + (f", {grade_id}" if grade_id else "") + ")")

    def preprocess_cell(self, cell, resources, index):
        removed = self._clean_metadata(cell)
        if "id" in cell:
            if not (isinstance(cell.id, str) and _CELL_ID.match(cell.id)) or cell.id in self._ids:
                cell.id = uuid.uuid4().hex[:8]
                removed.append("a cell id that is not nbformat's [A-Za-z0-9_-]{1,64}")
            self._ids.add(cell.id)
        source = cell.get("source", "")
        cell.source = source if isinstance(source, str) else "".join(map(str, source))
        if cell.cell_type == "markdown":
            removed += self._clean_attachments(cell)
            new, gone = sanitize_markdown(cell.source, cell.get("attachments"))
            if new != cell.source:
                cell.source = new
                if gone:
                    removed += gone
                else:
                    self.log.info("SanitizeHTML %s: raw HTML rewritten as the same HTML, "
                                  "cleaned (nothing removed)", self._where(cell, index))
        elif cell.cell_type == "raw":
            cell.pop("attachments", None)
            cleaned = clean_html(cell.source)
            if "<" in cell.source and cleaned != cell.source:  # without "<" no tag can open
                removed += [f"raw cell: {r}" for r in _removed(cell.source, cleaned)
                            or ["unbalanced or malformed tags"]]
                cell.source = cleaned
        else:
            count = cell.get("execution_count")
            if not (count is None or (isinstance(count, int) and not isinstance(count, bool))):
                cell.execution_count = None
            outputs = []
            for out in cell.get("outputs") if isinstance(cell.get("outputs"), list) else []:
                kept, dropped = _clean_output(out)
                removed += dropped
                if kept is not None:
                    outputs.append(nbformat.from_dict(kept))
            cell.outputs = outputs
        if removed:
            self.log.warning("SanitizeHTML %s: removed %s", self._where(cell, index),
                             "; ".join(dict.fromkeys(removed)))
        return cell, resources

    def _clean_metadata(self, cell):
        if not isinstance(cell.get("metadata"), dict):
            cell.metadata = nbformat.NotebookNode()
        meta, removed = cell.metadata, []
        for key in list(meta):
            value = meta[key]
            ok = {
                "nbgrader": isinstance(value, dict),
                "tags": isinstance(value, list),
                "jupyter": isinstance(value, dict),
                "collapsed": isinstance(value, bool),
                "scrolled": isinstance(value, bool) or value == "auto",
                "editable": isinstance(value, bool),
                "deletable": isinstance(value, bool),
            }.get(key, False)
            if not ok:  # no template reads other keys (editors add many): dropped quietly
                del meta[key]
                if key in ("nbgrader", "tags", "jupyter"):
                    removed.append(f"metadata {key!r} of the wrong type ({type(value).__name__})")
        if "tags" in meta:
            tags = [t for t in meta["tags"]
                    if isinstance(t, str) and re.fullmatch(r"[\w-]{1,80}", t)]
            if tags != meta["tags"]:
                removed.append("tags that are not plain words")
                meta["tags"] = tags
        if "jupyter" in meta:
            kept = {k: v for k, v in meta["jupyter"].items()
                    if k in ("source_hidden", "outputs_hidden") and isinstance(v, bool)}
            if kept != meta["jupyter"]:
                removed.append("jupyter metadata other than source_hidden/outputs_hidden flags")
                meta["jupyter"] = kept
        nbg = meta.get("nbgrader")
        if nbg is not None:
            for key in list(nbg):
                if key not in self.NBGRADER_KEYS:
                    del nbg[key]
                    removed.append(f"nbgrader metadata {key!r}")
            if "grade_id" in nbg and not (isinstance(nbg["grade_id"], str) and
                                          _GRADE_ID.match(nbg["grade_id"])):
                del meta["nbgrader"]  # no cell of this course has such an id: not a graded cell
                removed.append("nbgrader metadata with an invalid grade_id")
            elif "points" in nbg and (isinstance(nbg["points"], bool) or
                                      not isinstance(nbg["points"], (int, float))):
                del nbg["points"]
                removed.append("nbgrader points that are not a number")
        return removed

    def _clean_attachments(self, cell):
        attachments, removed = cell.get("attachments"), []
        if attachments is None:
            return removed
        kept = {}
        for name, bundle in (attachments.items() if isinstance(attachments, dict) else []):
            good = {m: v for m, v in (bundle or {}).items() if image_ok(m, v)} \
                if isinstance(bundle, dict) and isinstance(name, str) else {}
            if good:
                kept[name] = good
            if not isinstance(bundle, dict) or set(bundle) - set(good):
                removed.append(f"attachment {name!r} (not a PNG, JPEG or GIF image)")
        if kept:
            cell.attachments = nbformat.from_dict(kept)
        else:
            cell.pop("attachments", None)
        return removed
