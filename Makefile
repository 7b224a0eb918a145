# capi-streams developer commands. `make test` is the project's test command (README, .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA4_VERSION ?= 4.1.1

.PHONY: install lint typecheck imports unit test test-kafka4 compose-check run bench

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"

lint:
	$(VENV)/bin/ruff check streams tests benchmarks
	$(VENV)/bin/ruff format --check streams tests benchmarks

typecheck:
	$(VENV)/bin/mypy

imports:
	$(VENV)/bin/lint-imports

# Everything: lint, strict types, the pure-domain contract, then all tests (unit and
# integration) against a real local Kafka broker started by the test session.
test: lint typecheck imports
	$(PY) -m pytest -q -p no:cacheprovider

# The integration tests again, against a Kafka 4.x broker.
test-kafka4:
	CAPI_TEST_KAFKA_VERSION=$(KAFKA4_VERSION) $(PY) -m pytest -q -p no:cacheprovider -m integration

compose-check:
	@if docker compose version >/dev/null 2>&1; then docker compose config -q; \
	else docker-compose config -q; fi

run:
	$(VENV)/bin/capi-streams run

bench:
	$(PY) benchmarks/domain_bench.py
