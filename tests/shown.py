"""Read what an executed lecture shows (for tests that tie a lecture's text to its numbers).

`shown(nb, needle)`: the printed text of the one code cell whose source contains `needle`;
`num(pattern, text)`: the number in `pattern`'s first group (thousands commas allowed);
`compare_lines(nb)`: every line `gradcheck.compare` printed ("name | exact: .. | approx: .. | ...").
"""
import re


def shown(nb, needle):
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(cells) == 1, f"{len(cells)} code cells contain {needle!r}"
    parts = []
    for out in cells[0].get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "text/plain" in out.get("data", {}):
            parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


def num(pattern, text):
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not found in:\n{text[:800]}"
    return float(m.group(1).replace(",", ""))


def compare_lines(nb):
    return [line for c in nb.cells if c.cell_type == "code" for out in c.get("outputs", [])
            if out.get("output_type") == "stream" for line in out["text"].splitlines() if "| approx:" in line]


def markdown(nb, needle):
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and needle in c.source]
    assert len(cells) == 1, f"{len(cells)} markdown cells contain {needle!r}"
    return cells[0]
