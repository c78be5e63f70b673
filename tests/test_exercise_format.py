"""Every lecture's exercises follow the one format (issue #19), read from the stored notebook.

Per exercise, three cells in a row:
  1. markdown that opens with `**Exercise N.k** (compute | why | predict)` and then the question;
     N is the number of the lecture section (`## N. ...`) the exercise belongs to;
  2. a code cell holding only `# Your answer here` (the student's cell: "Run all" prints nothing);
  3. markdown `<details><summary>Solution</summary> ... </details>` (collapsed until clicked).
Exercises sit at the end of their own section N or in the final `## Exercises` section; every
section that has exercises asks at least one "why"; no other code runs in the Exercises section,
so no answer is computed or printed on "Run all".
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

HEADER = re.compile(r"\*\*Exercise (\d+)\.(\d+)\*\* \((compute|why|predict)\)\s+\S")
MENTION = re.compile(r"^\s*\*\*Exercise\b|^\s*\*\*\d+\.\s", re.M)     # anything that looks like one
SECTION = re.compile(r"^## (\d+)\.\s", re.M)
ANSWER = "# Your answer here"
SOLUTION_OPEN = "<details><summary>Solution</summary>"


def _cells(path):
    cells = json.loads(path.read_text())["cells"]
    return [(c["cell_type"], "".join(c["source"]).strip()) for c in cells]


def _exercises(path):
    """[(index of the question cell, N, k, kind, section the cell sits in)], checking each triple."""
    cells = _cells(path)
    found, section, problems = [], None, []
    for i, (kind, src) in enumerate(cells):
        if kind == "markdown":
            headings = re.findall(r"^## (.*)$", src, re.M)
            if headings:
                last = headings[-1]
                m = re.match(r"(\d+)\.\s", last)
                section = int(m.group(1)) if m else last.strip()
        m = HEADER.match(src) if kind == "markdown" else None
        if m is None:
            if kind == "markdown" and MENTION.search(src) and "<details>" not in src:
                problems.append(f"cell {i}: an exercise not in the format `**Exercise N.k** (kind)`: "
                                f"{src[:70]!r}")
            continue
        n, k, what = int(m.group(1)), int(m.group(2)), m.group(3)
        answer = cells[i + 1] if i + 1 < len(cells) else ("none", "")
        solution = cells[i + 2] if i + 2 < len(cells) else ("none", "")
        if answer != ("code", ANSWER):
            problems.append(f"Exercise {n}.{k} (cell {i}): next cell must be a code cell holding only "
                            f"{ANSWER!r}, found {answer[0]} {answer[1][:60]!r}")
        if not (solution[0] == "markdown" and solution[1].startswith(SOLUTION_OPEN)
                and solution[1].endswith("</details>") and len(solution[1]) > len(SOLUTION_OPEN) + 40):
            problems.append(f"Exercise {n}.{k} (cell {i}): the cell after the answer cell must be "
                            f"markdown `{SOLUTION_OPEN} ... </details>` with the reasoning")
        found.append((i, n, k, what, section))
    return cells, found, problems


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_exercises_use_the_one_format(path):
    cells, found, problems = _exercises(path)
    assert found, f"{path.name}: no exercise in the format `**Exercise N.k** (compute|why|predict)`"
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_exercises_are_numbered_by_their_section(path):
    cells, found, _ = _exercises(path)
    sections = {int(n) for kind, src in cells if kind == "markdown" for n in SECTION.findall(src)}
    numbers = [(n, k) for _, n, k, _, _ in found]
    assert len(numbers) == len(set(numbers)), f"{path.name}: exercise numbers repeat: {numbers}"
    wrong = []
    for i, n, k, _, section in found:
        if n not in sections:
            wrong.append(f"Exercise {n}.{k}: the lecture has no section `## {n}.`")
        elif section not in (n, "Exercises"):
            wrong.append(f"Exercise {n}.{k} (cell {i}) sits in section {section!r}, "
                         f"not at the end of section {n} or in `## Exercises`")
    assert not wrong, f"{path.name}:\n" + "\n".join(wrong)
    for n in {n for n, _ in numbers}:
        ks = sorted(k for m, k in numbers if m == n)
        assert ks == list(range(1, len(ks) + 1)), f"{path.name}: exercises {n}.k numbered {ks}, not 1, 2, ..."


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_every_section_with_exercises_asks_why(path):
    _, found, _ = _exercises(path)
    kinds = {}
    for _, n, _, what, _ in found:
        kinds.setdefault(n, set()).add(what)
    no_why = sorted(n for n, ks in kinds.items() if "why" not in ks)
    assert not no_why, f"{path.name}: sections {no_why} have exercises but none asks why"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name[:2])
def test_no_code_runs_in_the_exercises_section(path):
    cells = _cells(path)
    start = [i for i, (kind, src) in enumerate(cells)
             if kind == "markdown" and re.search(r"^## Exercises\s*$", src, re.M)]
    assert start, f"{path.name}: no `## Exercises` section"
    running = [f"cell {i}: {src[:60]!r}" for i, (kind, src) in enumerate(cells[start[-1]:], start[-1])
               if kind == "code" and src != ANSWER]
    assert not running, (f"{path.name}: code in the Exercises section other than {ANSWER!r} cells "
                         f"(answers must not be computed on Run all):\n" + "\n".join(running))
