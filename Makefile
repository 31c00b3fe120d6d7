# Slipway's entry points. Each target installs what it needs first (infra/local/bootstrap.sh).
PY := .venv/bin/python
.DEFAULT_GOAL := help
.PHONY: help deps engine run up down test lint unit integration bench

help:
	@echo "make run    - install what is missing, start the stack, serve the API on 127.0.0.1:7071"
	@echo "make up     - the same stack in the background (writes .slipway/env); make down stops it"
	@echo "make test   - lint, type-check and run every test against the real local stack"
	@echo "make bench  - benchmarks, printed as ratios against baselines measured in the same run"

deps:
	@infra/local/bootstrap.sh

engine: deps
	@infra/local/ensure-docker.sh

run: engine
	@$(PY) -m slipway_host.stack run

up: engine
	@$(PY) -m slipway_host.stack up

down:
	@if [ -x $(PY) ]; then $(PY) -m slipway_host.stack down; fi

lint: deps
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

unit: deps
	$(PY) -m pytest -q tests/unit tests/functional

integration: engine
	$(PY) -m pytest -q tests/integration

test: engine lint
	$(PY) -m pytest -q -p no:cacheprovider

bench: engine
	$(PY) -m bench
