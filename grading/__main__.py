"""Instructor commands on the verdict store, run in the course directory:

    python -m grading report [--out reports]        class analytics: reports/index.html
    python -m grading regrade ASSIGNMENT|"*"        re-judge the kept answers, update the gradebook

The gradebook's URL and the course root come from nbgrader's configuration (nbgrader_config.py
in the current directory), as for every nbgrader command.
"""
import argparse
import os
import sys


def course(root):
    """(course root, gradebook URL, config) from nbgrader's configuration in `root`."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader
    cfg_file = os.path.join(root, "nbgrader_config.py")
    if not os.path.exists(cfg_file):
        raise SystemExit(f"no nbgrader_config.py in {root}: run this in the course directory")
    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    cd = CourseDirectory(config=config)
    if cd.db_url.startswith("sqlite:///") and not os.path.exists(cd.db_url[len("sqlite:///"):]):
        raise SystemExit(f"no gradebook at {cd.db_url}: autograde an assignment first")
    return cd.root, cd.db_url, config


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="write reports/index.html and a page per assignment")
    rep.add_argument("--out", default="reports", help="output folder (default: reports)")
    rep.add_argument("assignments", nargs="*", help="only these assignments (default: all)")
    reg = sub.add_parser("regrade", help="re-judge the kept answers; update the gradebook")
    reg.add_argument("assignment", help='an assignment, or "*" for all')
    reg.add_argument("--workers", type=int, default=0, help="processes (0: up to 2)")
    reg.add_argument("--partial", choices=("on", "off"), default=None,
                     help="partial credit per hidden case (grading.scoring.cell_score); default: "
                          "the course's c.SandboxedExecute.partial_credit, as autograde used")
    args = ap.parse_args(argv)
    root, db_url, config = course(os.getcwd())
    if args.command == "report":
        from .report import release_hashes, write_reports
        write_reports(db_url, os.path.join(root, args.out), args.assignments or None,
                      release_sha=release_hashes(root))
    else:
        from .regrade import regrade
        if args.partial is None:
            partial = bool(config.SandboxedExecute.get("partial_credit", True))
        else:
            partial = args.partial == "on"
        print(regrade(root, db_url, args.assignment, workers=args.workers or None,
                      partial=partial, config=config).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
