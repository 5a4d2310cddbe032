# LeadOps: two commands for a newcomer.
#   make run   set up, migrate, seed demo data, start web + worker + sweeper + a demo lead stream
#              (development: debug pages on, served on 127.0.0.1 only)
#   make test  run the whole test suite, one process per core up to 4 (PostgreSQL when DATABASE_URL is set, SQLite otherwise)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || (PYENV_VERSION=3.12.1 pyenv which python 2>/dev/null) || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell md5sum pyproject.toml | cut -c1-8)

.PHONY: run test venv migrate seed lint clean check-deploy bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

migrate: venv
	$(PY) manage.py migrate --noinput

run: migrate
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py rundemo

# One test process per core, at most 4 (pytest-xdist; many tests start browsers, servers and
# workers of their own), each with its own test database; a file's tests stay in one process, its
# browser tests after all non-browser tests (--dist loadgroup, groups set in tests/conftest.py).
# PYTEST_WORKERS=0 runs them all in this process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
test: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

check-deploy: venv
	LEADOPS_PRODUCTION=1 DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64) DJANGO_ALLOWED_HOSTS=leadops.example.com \
		$(PY) manage.py check --deploy --fail-level WARNING

bench: venv
	$(PY) manage.py bench

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .hypothesis
