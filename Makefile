# FaceQA: `make demo` and `make test` set everything up themselves (Debian, root).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVE ?= 1
# When `make` was started: the demo's printed time includes the install.
STARTED := $(shell date +%s)
# pytest's own options for `make test`; e.g. make test PYTEST_ARGS="-k ingest"
PYTEST_ARGS ?=

.PHONY: setup apt venv migrate demo serve lint-imports test test-unit test-docker clean

setup: apt venv migrate

# Debian packages: `make demo` needs redis-server only; `make serve` PostgreSQL too;
# `make test` also Chromium (browser tests) and its fonts. Each target installs
# what is missing from its list (one apt-get run; quick when all are there).
APT_DEMO := redis-server:redis-server
APT_SERVE := $(APT_DEMO) /usr/lib/postgresql/*/bin/initdb:postgresql
APT_TEST := $(APT_SERVE) /usr/bin/chromium:chromium /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core
APT_NEEDS ?= $(APT_TEST)

apt:
	@missing=""; \
	for need in $(APT_NEEDS); do \
	  what=$${need%%:*}; package=$${need##*:}; \
	  command -v "$$what" >/dev/null || ls $$what >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# Re-installs only when requirements.txt changed since the last install. uv (from PyPI)
# downloads and installs the wheels in parallel: about 2 minutes on 2 cores, pip about 5.
venv:
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@want=$$(sha256sum requirements.txt | cut -d' ' -f1); \
	have=$$(cat $(VENV)/.requirements.sha256 2>/dev/null); \
	if [ "$$want" != "$$have" ]; then \
	  echo "installing Python requirements (first time: about 2 minutes)"; \
	  { $(PY) -m pip install -q uv==0.13.9 && $(VENV)/bin/uv pip install -q --python $(PY) -r requirements.txt; } || \
	  { echo "uv could not install them; pip instead (a few minutes)"; \
	    $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -r requirements.txt; } && \
	  echo "$$want" > $(VENV)/.requirements.sha256; \
	fi

migrate:
	@$(PY) manage.py migrate --noinput -v 0

demo: APT_NEEDS = $(APT_DEMO)
demo: setup
	@$(PY) manage.py fetch_weights --demo
	DJANGO_DEBUG=1 FACEQA_DEMO_STARTED=$(STARTED) $(PY) manage.py run_demo --serve=$(SERVE)

# The production stack on loopback: PostgreSQL, Redis, a Celery worker and gunicorn, DEBUG off.
serve: APT_NEEDS = $(APT_SERVE)
serve: setup
	$(PY) -m qa_platform.serve

# The import rules between the layers (.importlinter); a broken contract fails the build.
lint-imports: setup
	$(VENV)/bin/lint-imports

# The unit layer on SQLite (with the few integration and browser tests marked
# sqlite_too: the demo's path), then the integration and browser layers on a
# throw-away PostgreSQL cluster on loopback (the production database).
test: setup lint-imports
	$(PY) -m pytest -m "not integration and not browser or sqlite_too" $(PYTEST_ARGS)
	FACEQA_TEST_DATABASE=postgresql $(PY) -m pytest -m "integration or browser" $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest -m "not integration and not browser and not slow" $(PYTEST_ARGS)

# The Docker deployment end to end (docker/test_stack.py): builds the images (docker/build-offline.sh
# when no image registry answers), starts web, PostgreSQL, Redis and a CPU worker, ingests a real
# clip, builds a small database, rates it in Chromium, exports it; tears the stack down. Needs Docker.
test-docker: apt venv
	$(PY) docker/test_stack.py

clean:
	rm -rf data .pytest_cache
