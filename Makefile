# 一瓶一码 cylinder ledger. `make run` serves the demo; `make test` runs the whole suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
FLASK  := $(VENV)/bin/flask --app wsgi
STAMP  := $(VENV)/.installed
APT_PACKAGES := libzbar0 fonts-dejavu-core fonts-droid-fallback poppler-utils librsvg2-bin \
                chromium chromium-driver wrk

.PHONY: install run test lint bench bench-load system-packages clean translations security

install: system-packages $(STAMP)

# System libraries: pyzbar needs libzbar0. Installed with apt when missing and we may;
# otherwise say exactly what to run.
system-packages:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "ERROR: missing system packages:$$missing"; \
	    echo "       install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# opencv-contrib-python-headless replaced the plain wheel, and both own cv2/: drop an
	@# old plain one, then lay the contrib files down again (the uninstall removed them).
	@if $(PY) -m pip show -q opencv-python-headless >/dev/null 2>&1; then \
	  $(PY) -m pip uninstall -y -q opencv-python-headless && \
	  $(PY) -m pip install -q --force-reinstall --no-deps opencv-contrib-python-headless; fi
	touch $(STAMP)

# The scheduler runs beside the web, as in production (docs/deploy.md): it integrates and
# signs checkpoints every 10 s and runs the audits; without it the regulator's dashboard
# rightly warns that recent events are unsigned. Its log goes to jobs.log in the instance
# folder; it stops with the web (Ctrl-C). PORT=8080 make run serves elsewhere.
PORT ?= 5000
JOBS_LOG = $${LEDGER_INSTANCE:-instance}/jobs.log
run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	@echo "scheduler (flask jobs run) started beside the web; its log: $(JOBS_LOG)"
	@echo "一瓶一码 demo: http://127.0.0.1:$(PORT)/login (logins and passwords: $${LEDGER_INSTANCE:-instance}/demo.json)"
	@$(FLASK) jobs run >> $(JOBS_LOG) 2>&1 & scheduler=$$!; \
	  trap 'kill $$scheduler 2>/dev/null; wait $$scheduler 2>/dev/null' EXIT INT TERM; \
	  $(FLASK) run --host 127.0.0.1 --port $(PORT)

# Test files are spread over TEST_WORKERS processes (whole files: a module's fixtures, such
# as the seeded demo district, are built once). TEST_WORKERS=0 runs them in this process.
# Three on two cores: with two, the cores idle a fifth of the time while tests wait on their
# servers, browsers and databases, which a third worker fills (2026-12-07, the whole suite
# on SQLite and PostgreSQL, same code: 2 workers 505 s with the cores 78 % busy, 3 workers
# 462 s).
#
# Python keeps its compiled bytecode (in the ignored __pycache__/ folders) even where the
# environment sets PYTHONDONTWRITEBYTECODE: otherwise each test worker rewrites and compiles
# every test module again (collection ~12 → ~6 s a worker once cached), and each gunicorn
# worker and CLI process the tests start compiles the app again (`import wsgi` ~2.2 → ~1.9 s).
# The 25 slowest tests are listed at the end: where the suite's minutes go, in every CI log.
TEST_WORKERS ?= 3
test: install
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

# Issue 8: authorization matrix, schemathesis, hostile input, concurrency, kill -9.
security: install
	$(PY) -m pytest -q tests/security tests/reliability

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Pages' catalogs: extract the English msgids, merge into zh_Hans_CN and en, compile the .mo
# files (committed, so a fresh clone serves Chinese without this step).
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location -o app/translations/messages.pot .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching
	$(VENV)/bin/pybabel compile -d app/translations

bench: install
	$(PY) bench/ledger.py

# Fill checks through gunicorn beside a hello-world view (wrk), then p99 at 10k vs 1M events.
bench-load: install
	$(PY) bench/load.py
	$(PY) bench/scale.py --year --sizes 10000,1000000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
