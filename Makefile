# Every target bootstraps what it needs (.venv from the pinned requirements, node_modules from the
# lockfile), so a fresh clone needs only `make dev` or `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= dev
PYTEST_ARGS ?=

VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEPS_LAYER := .build/dependency-layer/python

.PHONY: help dev demo test lint typecheck asl pytest synth cfn-lint deploy bench invoke clean

help:
	@echo "make dev     - run the local cloud (REST :8000, WebSocket :8001, Stripe :8002, Tesla :8003)"
	@echo "make demo    - a narrated booking from search to payout (uses make dev, or starts its own cloud)"
	@echo "make test    - ruff, mypy, asl-validator, pytest (unit, integration, infra), cdk synth + cfn-lint"
	@echo "make synth   - synthesize the CDK app offline (ENV=dev|staging|prod)"
	@echo "make deploy  - cdk deploy with the pinned CLI (ENV=dev|staging|prod)"
	@echo "make bench   - print benchmark figures"
	@echo "make invoke FN=<route name> [EVENT=file] - run one function on a sample event in a fresh local cloud"

$(VENV_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(DEPS_LAYER): $(VENV_STAMP) requirements.txt layers/build_dependency_layer.py
	$(PY) layers/build_dependency_layer.py

dev: $(VENV_STAMP)
	$(PY) -m local

demo: $(VENV_STAMP)
	$(PY) -m local.demo

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(VENV_STAMP)
	$(VENV)/bin/mypy layers/shared/python functions local stacks app.py

asl: $(NODE_STAMP)
	@shopt -s nullglob; files=(statemachines/*.json); \
	if [ $${#files[@]} -eq 0 ]; then echo "asl-validator: no state machines"; fi; \
	for f in "$${files[@]}"; do npx --no-install asl-validator --json-path "$$f"; done

pytest: $(VENV_STAMP) $(NODE_STAMP) $(DEPS_LAYER)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

synth: $(VENV_STAMP) $(NODE_STAMP) $(DEPS_LAYER)
	npx --no-install cdk synth --quiet -c env=$(ENV) -o cdk.out/$(ENV) > /dev/null
	@echo "synthesized cdk.out/$(ENV)"

cfn-lint: synth
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/$(ENV)/*.template.json

test: lint typecheck asl pytest cfn-lint

deploy: $(VENV_STAMP) $(NODE_STAMP) $(DEPS_LAYER)
	npx --no-install cdk deploy --all -c env=$(ENV) --require-approval broadening

bench: $(VENV_STAMP) $(DEPS_LAYER)
	$(PY) -m bench

invoke: $(VENV_STAMP)
	$(PY) -m local.invoke $(FN) $(EVENT)

clean:
	rm -rf cdk.out .build .pytest_cache .mypy_cache .ruff_cache
