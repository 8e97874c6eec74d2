# assistwatch — every target sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test unit lint bench package serve deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

demo: install
	$(PY) -m tests.fakes.demo

test: lint unit

unit: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/cold_start.py
	$(PY) bench/poll.py
	$(PY) bench/event.py

# COMPILE_WITH: a python of the runtime's version to compile .pyc with (default python3.10 on PATH).
package: install
	$(PY) scripts/package.py $(if $(COMPILE_WITH),--compile-with $(COMPILE_WITH))

# The local FC (lib/serve.py): POST /invoke and HTTP-trigger calls on 127.0.0.1:$(PORT).
# Needs ASSISTWATCH_SERVE_TOKEN (callers send `Authorization: Bearer <token>`).
PORT ?= 9000
serve: install
	$(VENV)/bin/functions-framework --target fc --source lib/serve.py --host 127.0.0.1 --port $(PORT)

# Serverless Devs (`npm i -g @serverless-devs/s`, `s config add`): see README "Deploy".
deploy: package
	s deploy -y -t s.yaml

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
