# Instructor repository. Two commands do all set-up:
#   make lab    JupyterLab on the whole repository (lectures, assignments, solutions, formgrader)
#   make test   every test (installs the system packages it needs first, or says how)
# Each creates and fills .venv on first use, so neither depends on the other having run.
# Students never clone this repository: `make student` builds their edition in dist/student/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
LOCK   := requirements.lock
# nbgrader shells out to alembic: the environment's bin/ must be on PATH for everything we run.
export PATH := $(BIN):$(PATH)

.PHONY: lab test env system lock student bench clean

# Exact versions of everything, from requirements.lock (refresh it with `make lock`).
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[course]'
	# rfc3987-syntax comes in through jsonschema[format-nongpl] and builds an Earley parser when it
	# is imported: about 2.7 s added to every nbgrader and Jupyter start. jsonschema needs it only
	# to check the "iri" string format, which nothing here uses (tests/test_repo.py checks).
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cs231n)" >/dev/null
	# Notebooks go into git without outputs, however they were written: tools/strip_notebook.py
	# (nbstripout, keeping cell ids) is the git filter .gitattributes names, as `nbstripout --install`
	# would set it but with a relative path, so every clone and worktree runs its own .venv.
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	    git config filter.nbstripout.clean '$(VENV)/bin/python tools/strip_notebook.py' && \
	    git config filter.nbstripout.smudge cat && \
	    git config diff.ipynb.textconv '$(VENV)/bin/python tools/strip_notebook.py -t'; fi
	touch $@

env: $(VENV)/.installed

# One JupyterLab on the repository root; jupyter_server_config.py saves notebooks without outputs.
# Jupyter refuses to run as root without --allow-root (containers, many cloud VMs): pass it then,
# and say so. LAB_ARGS adds options (port, token, ...).
lab: $(VENV)/.installed
	@if [ "$$(id -u)" = 0 ]; then echo "make lab: running as root, so JupyterLab gets --allow-root"; \
	    set -- --allow-root; else set --; fi; \
	exec $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --config="$(CURDIR)/jupyter_server_config.py" \
	    "$$@" $(LAB_ARGS)

# Debian packages the tests need (bubblewrap, chromium, postgresql): installed as root, else the exact command.
system:
	@sh tools/system_packages.sh

# --dist loadgroup: the tests marked xdist_group (tests/test_scale_out.py: one Dask cluster and one
# PostgreSQL server for the module) stay on one pytest worker; the rest spread as with `load`.
test: system $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup tests

# Refresh requirements.lock from pyproject.toml: newest versions within its bounds, for every
# platform (--universal), one version of each package across Python versions (--fork-strategy fewest).
lock: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra course --universal --fork-strategy fewest \
	    --annotation-style line --custom-compile-command "make lock" --upgrade -o $(LOCK)
	@echo "Now run 'make clean env test' and commit $(LOCK) if the tests pass."

# The student edition: what students get, nothing instructor-only (tools/make_student_edition.py).
student:
	$(PYTHON) tools/make_student_edition.py dist/student

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) .pytest_cache
