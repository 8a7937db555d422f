# Two commands set everything up from a clean clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.descentlab-installed
# PyTorch is the live reference of the optimizer tests and a peer of the benchmarks. It is optional:
# without it the tests use the trajectories stored in tests/references/. Set NO_TORCH=1 to skip it.
# Ray (the distributed sweep executor) is installed for its test too; NO_RAY=1 skips it.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test bench lint references figures clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "descentlab needs Python 3.11 or newer; found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@if [ -z "$(NO_RAY)" ]; then \
	  $(PY) -m pip install --quiet -e '.[ray]' \
	  || echo "note: Ray could not be installed; the Ray executor test will skip"; \
	fi
	@if [ -z "$(NO_TORCH)" ]; then \
	  $(PY) -m pip install --quiet '$(TORCH_SPEC)' \
	  || echo "note: $(TORCH_SPEC) could not be installed; reference tests fall back to stored trajectories"; \
	fi
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/descentlab demo

test: $(STAMP)
	@bash scripts/install_test_tools.sh
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run.py --out BENCHMARKS.md

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

references: $(STAMP)
	$(PY) scripts/make_references.py

figures: $(STAMP)
	$(PY) scripts/make_figures.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
