# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# The environment is created on first use. TORCH is what pip installs before the
# package: our machines install the CPU build from local disk; GPU users can pass
# their own, e.g. `make run TORCH="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124"`,
# or TORCH= to keep a torch already in the environment.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rankgraph-installed

.PHONY: env run test bench clean

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	if [ -n "$(TORCH)" ]; then $(PY) -m pip install -q --disable-pip-version-check $(TORCH); fi
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,serve,report,baselines]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rankgraph run --out runs/default

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) -m benchmarks --size small

clean:
	rm -rf $(VENV) runs
