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
# workers of their own), each with its own test database; a file's tests stay in one process
# (--dist loadfile). PYTEST_WORKERS=0 runs them all in this process. Browser tests run in a
# second pytest run of their own: Playwright's sync API leaves its event loop marked as running
# in the test process, and a later test there would get another database connection from Django
# and could not call an async view through the test Client. PYTEST_MARKS narrows both runs
# (a -m expression); PYTEST_ARGS passes anything else to pytest. Exit 5 = nothing selected.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
PYTEST_MARKS ?=
_MARKS = $(if $(PYTEST_MARKS), and ($(PYTEST_MARKS)))
test: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not browser$(_MARKS)" $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "browser$(_MARKS)" $(PYTEST_ARGS) || [ $$? -eq 5 ]

check-deploy: venv
	LEADOPS_PRODUCTION=1 DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64) DJANGO_ALLOWED_HOSTS=leadops.example.com \
		$(PY) manage.py check --deploy --fail-level WARNING

bench: venv
	$(PY) manage.py bench

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .hypothesis
