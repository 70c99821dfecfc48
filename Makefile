# The targets a newcomer needs. Everything runs from the project's own virtualenv (.venv), created by uv from
# pyproject.toml and uv.lock; uv itself is installed into .tools/ when it is not on PATH.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
PY := $(VENV)/bin/python

.DEFAULT_GOAL := help
.PHONY: help setup demo train-and-serve test lint format data bench bench-inference rerun rollback rollback-env clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced ## install the locked dependencies into .venv

demo: setup ## the whole pipeline on this machine (ARGS="--reject | --expire | --supersede | --interactive --keep")
	$(PY) -m local.pipeline $(ARGS)

train-and-serve: setup ## the data scientist's loop: local MLflow, train, register, promote to staging, predict
	$(PY) -m local.train_and_serve

lint: setup ## ruff: lint and formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint ## lint, then every test (infrastructure under mocks, seed code, the local loop)
	@$(PY) -m pytest --durations=5; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$status

format: setup ## rewrite files with ruff's formatter and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

data: setup ## regenerate seed_code/data/deliveries.csv (deterministic)
	$(PY) seed_code/data/generate_deliveries.py

bench: setup ## every benchmark (inference, local pipeline, test suite, cost) → bench/RESULTS.md
	$(PY) -m bench.results

bench-inference: setup ## the inference handler alone: init, warm p50 / p99, image size proxy
	$(PY) -m bench.inference

rerun: setup ## start the pipeline again for COMMIT=<full sha> (AWS credentials of the tooling account)
	@test -n "$(COMMIT)" || { echo "usage: make rerun COMMIT=<full commit sha>" >&2; exit 2; }
	$(PY) -m functions.start.rerun --commit $(COMMIT) \
		--state-machine-arn "$$(pulumi stack output stateMachineArn --stack tooling)"

rollback: rollback-env setup ## roll ENV=stage|prod back one version, with its MLflow alias and a Slack post (tooling account credentials)
	@outputs="$$(pulumi stack output --json --stack tooling)" || exit 1; \
	$(PY) -m ops.rollback --env $(ENV) $(if $(FROM_VERSION),--from-version $(FROM_VERSION)) \
		$(if $(REASON),--reason "$$REASON") --tooling-outputs "$$outputs"

# Checked before anything else runs, so a typo never reaches AWS.
rollback-env:
	@case "$(ENV)" in stage|prod) ;; *) \
		echo "usage: make rollback ENV=stage|prod [FROM_VERSION=<function version>] [REASON='<text>'] (got ENV='$(ENV)')" >&2; \
		exit 2;; esac

clean: ## remove local run folders (.work) and caches
	rm -rf .work .pytest_cache .ruff_cache
