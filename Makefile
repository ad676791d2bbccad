# paylinks: the two commands are `make demo` (run the system and watch the story) and `make test`.
# Every target does its own set-up: uv, the virtualenv, Kafka jars, Postgres, topics, migrations.

SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
export PAYLINKS_HOME ?= $(CURDIR)/.local
UV := python3 -m uv
VENV := .venv
PY := $(VENV)/bin/python
INFRA := deploy/local/infra.sh
WITH_INFRA := deploy/local/with-infra.sh

.PHONY: help setup infra-up infra-down infra-status lint format test pytest unit demo up docs bench chaos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

setup: $(VENV)/.synced ## virtualenv with every package (uv, locked), plus Chromium, promtool and axe-core for the tests
	@deploy/local/ensure-chromium.sh
	@deploy/local/ensure-promtool.sh
	@deploy/local/ensure-axe.sh

$(VENV)/.synced: uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --locked --python python3
	@touch $@

infra-up: ## start local Kafka (KRaft) and PostgreSQL, or check the ones KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL name
	@$(INFRA) up

infra-down: ## stop local Kafka and PostgreSQL
	@$(INFRA) down

infra-status:
	@$(INFRA) status

lint: $(VENV)/.synced ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict libs/*/src services/*/src bench

format: $(VENV)/.synced
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: setup ## lint, then every test against a real Kafka broker and PostgreSQL (started and stopped here)
	@$(WITH_INFRA) $(MAKE) --no-print-directory lint pytest

pytest: $(VENV)/.synced
	$(VENV)/bin/pytest

unit: $(VENV)/.synced ## the pure tests only: no Kafka, no Postgres
	$(VENV)/bin/pytest -m unit

demo: setup ## the whole stack on local defaults and a walk through the payment-link story
	@$(WITH_INFRA) $(VENV)/bin/paylinks-demo

up: setup ## the whole stack (Kafka, Postgres, SMTP sink, four services) until Ctrl-C
	@$(INFRA) up
	@$(VENV)/bin/paylinks-up

docs: $(VENV)/.synced ## regenerate docs/asyncapi.json (event contract, by FastStream) and docs/openapi/*.json
	$(PY) -m paylinks_devstack.asyncapi > docs/asyncapi.json
	$(PY) -m paylinks_devstack.openapi docs/openapi

# The benchmarks run on a Kafka broker and a Postgres server of their own (own home and ports), emptied
# before each run: every run starts from the same state, and the payments the pay figures' services put on
# the contract topics never reach the topics and schemas `make demo` and `make up` read.
BENCH_INFRA := PAYLINKS_HOME=$(PAYLINKS_HOME)/bench-infra KAFKA_PORT=19092 KAFKA_CONTROLLER_PORT=19093 PGPORT_LOCAL=15432

clean: ## stop local infrastructure and remove its data (keeps the cached Kafka jars)
	-@$(INFRA) down --purge
	-@$(BENCH_INFRA) $(INFRA) down --purge
bench: setup ## benchmarks on a Kafka and a Postgres of their own, each figure beside a baseline of the same run
	$(UV) sync --locked --python python3 --group bench
	@$(BENCH_INFRA) $(INFRA) down --purge
	@$(BENCH_INFRA) $(WITH_INFRA) $(PY) -m bench.run $(BENCH_ARGS)
chaos: setup ## fault injection and hostile-input suites, with a report (faults, inputs, records checked, lost, duplicated)
	@FUZZ_EXAMPLES=100 $(WITH_INFRA) $(VENV)/bin/pytest tests/chaos tests/security -p no:randomly --chaos-full --chaos-mutations
