"""JupyterLab settings of `make lab` (passed with --config): notebooks are saved without outputs.

JupyterLab's autosave and every save write outputs, execution counts and run-time metadata into the
notebook; in this repository that would dirty git on every run of a lecture or a solution. Here each
save goes through tools/strip_notebook.py (nbstripout), the same command as the git filter that
`make env` sets up, so the file on disk stays what git holds. Outputs stay on screen until the
notebook is closed; they are not written to disk.
"""
import json
import os
import subprocess
import sys

STRIP = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "strip_notebook.py")]


def strip_outputs(model, path, contents_manager, **kwargs):
    """FileContentsManager.pre_save_hook: replace a notebook's content with its stripped copy."""
    if model.get("type") != "notebook" or not model.get("content"):
        return
    proc = subprocess.run(STRIP, input=json.dumps(model["content"]), capture_output=True, text=True,
                          timeout=60, check=True)
    model["content"] = json.loads(proc.stdout)


c = get_config()  # noqa: F821 -- provided by Jupyter when it reads this file
c.FileContentsManager.pre_save_hook = strip_outputs
