"""The environment is the one requirements.lock pins: every package the lock names for this platform
is installed at exactly that version (rfc3987-syntax excepted: the Makefile removes it on purpose),
and the lock covers what pyproject.toml asks for. A drift means `make clean env` (or `make lock`)."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*([^#]+?))?\s*(?:#.*)?$")
REMOVED_ON_PURPOSE = {"rfc3987-syntax"}  # see the Makefile: ~2.7 s at every Jupyter start


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text):
    """{package: version} of the lock's lines that apply to this interpreter and platform."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        assert m, f"requirements.lock: not an exact pin: {line!r}"
        if m.group(3) is None or Marker(m.group(3)).evaluate():
            out[canonical(m.group(1))] = m.group(2)
    return out


def drift(locked):
    """Lines describing each difference between the locked and the installed versions."""
    problems = []
    for name, version in sorted(locked.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name not in REMOVED_ON_PURPOSE:
                problems.append(f"{name}: locked {version}, not installed")
            continue
        if name in REMOVED_ON_PURPOSE:
            problems.append(f"{name}: installed {installed}, should have been removed")
        elif installed != version:
            problems.append(f"{name}: locked {version}, installed {installed}")
    return problems


def test_installed_versions_match_the_lock():
    problems = drift(pins((ROOT / "requirements.lock").read_text()))
    assert not problems, ("installed packages drift from requirements.lock (run `make clean env`):\n"
                          + "\n".join(problems))


def test_drift_is_detected():
    numpy = metadata.version("numpy")
    problems = drift({"numpy": numpy + ".post999", "no-such-package-xyz": "1.0"})
    assert problems == ["no-such-package-xyz: locked 1.0, not installed",
                        f"numpy: locked {numpy}.post999, installed {numpy}"]


def test_lock_covers_pyproject_and_states_real_minimums():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    locked = pins((ROOT / "requirements.lock").read_text())
    wanted = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                        for r in extra]
    for req in map(Requirement, wanted):
        if canonical(req.name) in ("cs231n-lib", "torch"):  # the project itself; bench is optional
            continue
        assert canonical(req.name) in locked, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(locked[canonical(req.name)]), \
            f"{req.name}=={locked[canonical(req.name)]} in the lock violates pyproject's {req}"
    numpy = next(Requirement(r) for r in project["dependencies"] if r.startswith("numpy"))
    assert not numpy.specifier.contains("1.26.4"), "the library needs NumPy >= 2.0 (np.vecdot)"
