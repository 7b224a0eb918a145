# capi-streams developer commands. `make test` is the project's test command (README, .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA4_VERSION ?= 4.1.1
STAMP := $(VENV)/.installed

.PHONY: install system-deps lint typecheck imports test test-kafka4 compose-check run demo bench

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

system-deps:
	bash .ci/system-deps

lint: $(STAMP)
	$(VENV)/bin/ruff check streams tests benchmarks
	$(VENV)/bin/ruff format --check streams tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

# Everything: lint, strict types, the pure-domain contract, then all tests (unit and
# integration) against a real local Kafka broker started by the test session.
test: system-deps lint typecheck imports
	$(PY) -m pytest -q -p no:cacheprovider

# The integration tests again, against a Kafka 4.x broker.
test-kafka4: system-deps $(STAMP)
	CAPI_TEST_KAFKA_VERSION=$(KAFKA4_VERSION) $(PY) -m pytest -q -p no:cacheprovider -m integration

compose-check: system-deps
	@if docker compose version >/dev/null 2>&1; then docker compose config -q; \
	else docker-compose config -q; fi
	@echo "docker-compose.yml: valid"

# The main job on embedded defaults: local Kafka broker, Graph API sandbox, worker.
run: $(STAMP)
	$(VENV)/bin/capi-streams run

demo: $(STAMP)
	$(VENV)/bin/capi-streams run --demo

bench: $(STAMP)
	$(PY) benchmarks/domain_bench.py
	$(PY) benchmarks/pipeline_bench.py
