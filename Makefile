# Two entry points, both self-installing: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench mutation soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: set up and run the main job end to end
demo: $(STAMP)
	$(BIN)/mrbatch demo

## test: set up and run the whole suite: lint, type-check, tests
test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy src tools

unit: $(STAMP)
	$(BIN)/pytest -q -rs -n 3 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

## mutation: mutation testing of the invariant modules (not part of `test`; docs/mutation.md)
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py

## soak: CI's share of the randomized search (docs/operations.md, "Chaos"): ten fixed
## torture schedules, each on a fresh stack, then a 100-file load test; both judged by the
## outside checker, both fail on any violation. Not part of `test`; `.ci/run` runs it after
## `test` (3-5 minutes on a quiet machine, ~10 under load).
SOAK_SEED ?= 2026
soak: $(STAMP)
	$(BIN)/mrbatch torture --seed $(SOAK_SEED) --schedules 10
	d=$$(mktemp -d); trap '$(BIN)/mrbatch down --data-dir "$$d" >/dev/null 2>&1; rm -rf "$$d"' EXIT; \
	$(BIN)/mrbatch up --detach --data-dir "$$d" && \
	$(BIN)/mrbatch loadtest --files 100 --rows 10000 --data-dir "$$d"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# --- the AWS target (docs/aws-deploy.md): build, deploy, chaos, destroy ------------------
.PHONY: lambda-build deploy chaos destroy-chaos destroy-all
ENV              ?= dev
PRIMARY_REGION   ?= us-east-1
SECONDARY_REGION ?= us-west-2
SES_IDENTITY     ?=
LAMBDA_PYTHON    ?= 3.11
LAMBDA_ARCH      ?= x86_64

## lambda-build: the Lambda code zip and dependency layer in build/lambda (every handler imported from them alone)
lambda-build: $(STAMP)
	$(BIN)/python -m mrbatch.aws.deploy.build --out build/lambda --python $(LAMBDA_PYTHON) --arch $(LAMBDA_ARCH)

AWS_ENV := --env $(ENV) --primary $(PRIMARY_REGION) --secondary $(SECONDARY_REGION)

## deploy: build, then deploy every stack of environment ENV to PRIMARY_REGION and SECONDARY_REGION
deploy: lambda-build
	$(BIN)/mrbatch aws deploy $(AWS_ENV) $(if $(SES_IDENTITY),--ses-identity $(SES_IDENTITY))

## chaos: deploy the FIS experiment stacks (start one with `mrbatch aws chaos start`)
chaos: $(STAMP)
	$(BIN)/mrbatch aws deploy $(AWS_ENV) --chaos

destroy-chaos: $(STAMP)
	$(BIN)/mrbatch aws destroy $(AWS_ENV) --chaos-only --yes

## destroy-all: delete every stack of ENV, stored files included (asks first)
destroy-all: $(STAMP)
	$(BIN)/mrbatch aws destroy $(AWS_ENV)
