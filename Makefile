# The README's commands. Everything installs into .venv; nothing outside the project is touched.
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed

.PHONY: install test lint lock messages demo bench bench-large bench-tracking clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## the test suite (SQLite always; PostgreSQL too when SYNCD_TEST_POSTGRES_URL is set)
# Two workers (the machine's two cores): the end-to-end tests run one after the other on one of them.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check syncd adapters migrations tests
	$(BIN)/mypy

## requirements.lock: exact versions and hashes of the runtime dependencies (and the build backend) for the
## container image; run after changing dependencies in pyproject.toml, commit both
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --build-deps-for=wheel \
		--no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

## the translations (syncd/locale): extract every _() / ngettext() / N_() into syncd.pot, merge it into each
## language's syncd.po (new texts appear untranslated: translate them, tests/core/test_i18n.py fails until then),
## then compile each catalogue once to check it (syncd reads the .po itself at run time; the .mo is not kept)
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output --add-comments=TRANSLATORS: \
		--project=syncd -o syncd/locale/syncd.pot syncd adapters
	$(BIN)/pybabel -q update -D syncd -i syncd/locale/syncd.pot -d syncd/locale --width 120 \
		--ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile --statistics -D syncd -d syncd/locale && find syncd/locale -name '*.mo' -delete

## the daemon against the built-in sandbox, live, in under a minute
demo: $(STAMP)
	$(BIN)/syncd demo

bench: $(STAMP)
	$(BIN)/syncd bench --orders 10000

bench-large: $(STAMP)
	$(BIN)/syncd bench --large

## the track and watch stages over 100,000 active parcels (Kuaidi100 simulator)
bench-tracking: $(STAMP)
	$(BIN)/syncd bench --tracking 100000

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
