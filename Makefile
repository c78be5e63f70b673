# Two commands do all set-up:   make lab   (JupyterLab on notebooks/)   and   make test   (every test).
# Each creates and fills .venv on first use, so neither depends on the other having run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
# nbgrader shells out to alembic: the environment's bin/ must be on PATH for everything we run.
export PATH := $(BIN):$(PATH)

.PHONY: lab test env bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[course]'
	# rfc3987-syntax comes in through jsonschema[format-nongpl] and builds an Earley parser when it
	# is imported: about 2.7 s added to every nbgrader and Jupyter start. jsonschema needs it only
	# to check the "iri" string format, which nothing here uses (tests/test_repo.py checks).
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cs231n)" >/dev/null
	touch $@

env: $(VENV)/.installed

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks/

test: $(VENV)/.installed
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 tests

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_layers.py

clean:
	rm -rf $(VENV) .pytest_cache
