# capi-streams developer commands. `make test` is the project's test command (README, .ci/run).
VENV ?= .venv
PY := $(VENV)/bin/python
KAFKA39_VERSION ?= 3.9.2
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8

.PHONY: install lock lock-check system-deps helm lint typecheck imports test test-kafka39 compose-check run demo bench bench-deps bench-latency bench-sdk bench-pipeline

# The dependencies come from the hashed lock (requirements-dev.lock), the project itself without
# dependencies; a lock older than pyproject.toml's dependencies stops here (run `make lock`).
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	python3 .ci/lock.py check
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lock-check:
	python3 .ci/lock.py check

# Regenerate both locks from pyproject.toml (newest versions its bounds allow), with hashes.
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile -q pyproject.toml --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command "make lock" -o requirements.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev --universal --python-version 3.11 \
	  --generate-hashes --custom-compile-command "make lock" -o requirements-dev.lock
	python3 .ci/lock.py stamp

system-deps:
	bash .ci/system-deps

# helm for the chart tests (tests/deploy), pinned, built once from the Go module proxy.
helm:
	bash .ci/helm >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check streams tests benchmarks
	$(VENV)/bin/ruff format --check streams tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

# Everything: lint, strict types, the pure-domain contract, then all tests (unit and
# integration) against a real local Kafka broker started by the test session.
test: system-deps helm lint typecheck imports
	$(PY) -m pytest -q -p no:cacheprovider

# The Kafka client contract again, against a Kafka 3.9 broker (users on older clusters): the
# worker, its ledger under kills and rebalances, secured listeners, static membership, poison
# input. `make test` runs every test on the default local broker, Kafka 4.4; the tests left out
# here (registry, privacy sweep, replay, dev tools, deploy) prove nothing version-specific.
KAFKA39_TESTS := tests/kafka/test_app.py tests/kafka/test_worker.py tests/kafka/test_faust_private.py \
	tests/kafka/test_reliability.py tests/kafka/test_multi_event_ledger.py \
	tests/kafka/test_failstop.py tests/kafka/test_secure_worker.py \
	tests/kafka/test_static_membership.py tests/kafka/test_poison.py
test-kafka39: system-deps $(STAMP)
	CAPI_TEST_KAFKA_VERSION=$(KAFKA39_VERSION) $(PY) -m pytest -q -p no:cacheprovider \
	  -m integration $(KAFKA39_TESTS)

# The stack needs a Grafana admin password to start; the check only validates the file.
compose-check: system-deps
	@export GRAFANA_ADMIN_PASSWORD="$${GRAFANA_ADMIN_PASSWORD:-compose-check}"; \
	if docker compose version >/dev/null 2>&1; then docker compose config -q; \
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

# The issue-16 benchmarks, each on its own broker (free port) and sandbox; results (JSON and
# markdown, with the load average and cores) in benchmarks/results/. Options: BENCH_ARGS="...".
bench-deps: $(STAMP)
	$(PY) -c "import facebook_business, confluent_kafka" 2>/dev/null || $(PY) -m pip install -q -e ".[bench]"

bench-latency: $(STAMP)
	$(PY) benchmarks/latency_bench.py $(BENCH_ARGS)

bench-sdk: bench-deps
	$(PY) benchmarks/sdk_forwarder_bench.py $(BENCH_ARGS)

bench-pipeline: $(STAMP)
	$(PY) benchmarks/pipeline_bench.py $(BENCH_ARGS)
