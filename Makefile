# assistwatch — every target sets itself up: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test unit lint compat bench bench-all package serve deploy smoke clean gate

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

# The suite again on FC's other interpreters (python3.10 is FC's default runtime), each in
# its own .venv-X.Y, when this machine has them (PATH or pyenv); skipped, saying so, if not.
COMPAT ?= 3.10 3.12
compat:
	@for v in $(COMPAT); do \
	  py=$$(command -v python$$v 2>/dev/null); \
	  if [ -z "$$py" ] || ! "$$py" -c pass 2>/dev/null; then \
	    py=$$(ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$$v.*/bin/python$$v 2>/dev/null | sort -V | tail -1); \
	  fi; \
	  if [ -z "$$py" ] || ! "$$py" -c pass 2>/dev/null; then echo "compat: no python$$v here, skipped"; continue; fi; \
	  echo "compat: python$$v ($$py)"; \
	  test -x .venv-$$v/bin/python || "$$py" -m venv .venv-$$v || exit 1; \
	  .venv-$$v/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' || exit 1; \
	  .venv-$$v/bin/python -m pytest -p no:cacheprovider || exit 1; \
	done

# The deploy gate alone (also part of `make test`, tests/test_deploy_gate.py): template.yml
# through the ROS CDK 1.15.0 validators (needs node), s.yaml through devsapp/fc3's schema.
gate: install
	$(PY) scripts/ros_gate.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/cold_start.py
	$(PY) bench/poll.py
	$(PY) bench/event.py
	$(PY) bench/redact.py
	$(PY) bench/schedule.py
	$(PY) bench/windows.py
	$(PY) bench/escape.py
	$(PY) bench/templates.py
	$(PY) bench/feishu_cards.py

# The long ones too: fleets at API latency (~9 min) and randomised fault schedules.
bench-all: bench
	$(PY) bench/fleet.py
	$(PY) bench/reliability.py --runs 300 --seed 1

# COMPILE_WITH: a python of the runtime's version to compile .pyc with (default python3.10 on PATH).
# ROUTING: a routing file to ship in the zip as /code/routing.yaml (docs/deploy-facts.md).
package: install
	$(PY) scripts/package.py $(if $(COMPILE_WITH),--compile-with $(COMPILE_WITH)) $(if $(ROUTING),--routing $(ROUTING))

# The local FC (lib/edges/serve.py): POST /invoke and HTTP-trigger calls on 127.0.0.1:$(PORT).
# Needs ASSISTWATCH_SERVE_TOKEN (callers send `Authorization: Bearer <token>`). gunicorn
# with a read timeout and 64 threads (lib/edges/serve_gunicorn.py): slow clients cannot stall it.
PORT ?= 9000
serve: install
	@test -n "$$ASSISTWATCH_SERVE_TOKEN" || { echo "make serve: set ASSISTWATCH_SERVE_TOKEN first (callers send it as a Bearer token), e.g. ASSISTWATCH_SERVE_TOKEN=\$$(openssl rand -hex 16) make serve" >&2; exit 2; }
	@echo "assistwatch local FC: http://127.0.0.1:$(PORT)/invoke (POST, Authorization: Bearer \$$ASSISTWATCH_SERVE_TOKEN); Ctrl-C stops"
	@$(PY) -m lib.edges.serve_gunicorn --host 127.0.0.1 --port $(PORT)

# Serverless Devs (`npm i -g @serverless-devs/s`, `s config add`): see README "Deploy".
deploy: package
	s deploy -y -t s.yaml

# The live smoke test on a real account (never run by `make test` or CI): a failing command
# and a refused file send on INSTANCE, told through the configured receivers. README step 8.
smoke: install
	@test -n "$(REGION)" -a -n "$(INSTANCE)" || { echo "usage: make smoke REGION=cn-hangzhou INSTANCE=i-... (with ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET and a receiver, e.g. ASSISTWATCH_DINGTALK_URL)" >&2; exit 2; }
	$(PY) scripts/smoke.py --region $(REGION) --instance $(INSTANCE)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
