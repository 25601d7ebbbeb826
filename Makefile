# The two commands: `make run` (set up and serve the demo) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTHON ?= python3
PLAN_DIR := fixtures/plans/js-2018-28

.PHONY: run test install install-dev lint bench audit migrate clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

install: $(VENV)/.installed-runtime
install-dev: $(VENV)/.installed-dev

# The demo runs with DEBUG on: demo passwords are refused when DEBUG is off.
run: export DJANGO_DEBUG ?= true
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_plan $(PLAN_DIR)
	$(PY) manage.py load_demo
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install-dev
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy .
	DJANGO_DEBUG=true $(PY) manage.py makemigrations --check --dry-run

# The benchmark against the local PostgreSQL (database bench_h, dropped and rebuilt) and Redis (database 11):
# BENCH_SCALE=national (the default; under 30 minutes on a 2-core machine) or province (a few minutes).
# Writes bench/results.json and the results table in docs/benchmarks.md.
bench: install-dev
	$(PY) -m bench.run

# Known vulnerabilities in the pinned runtime and development packages (PyPI's advisory data, via pip-audit).
# Needs pypi.org's JSON API or api.osv.dev; docs/reliability.md records what this machine could reach.
audit: install-dev
	$(VENV)/bin/pip-audit --strict -r requirements.txt -r requirements-dev.txt

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles var
