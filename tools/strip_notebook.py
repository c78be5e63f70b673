"""nbstripout with the course's options: the git filter of `make env` and JupyterLab's saves in
`make lab` (jupyter_server_config.py) both run this, so git and the disk agree.

    python tools/strip_notebook.py < in.ipynb > out.ipynb     (any other nbstripout argument works)

Options: keep cell ids (the committed notebooks have random ones; renumbering them would change
every notebook), and also drop the run-time part of `language_info` that a kernel fills in.
"""
import sys

from nbstripout import main

EXTRA_KEYS = " ".join(f"metadata.language_info.{key}" for key in (
    "codemirror_mode", "file_extension", "mimetype", "nbconvert_exporter", "pygments_lexer", "version"))
ARGS = ["--keep-id", "--extra-keys", EXTRA_KEYS]

if __name__ == "__main__":
    sys.argv[1:1] = ARGS
    sys.exit(main())
