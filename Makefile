# The first call of any target creates .venv and installs the pinned dependencies;
# later calls reuse it (reinstalling only when pyproject.toml or constraints.txt change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo browser test test-fast screenshots bench lint format lock migration-initial clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/enishi demo

# Browser tests drive Debian's chromium (Playwright cannot download its own browser here);
# a Japanese font makes the screenshots readable.
BROWSER_PACKAGES := chromium fonts-ipafont-gothic

browser:
	test -x /usr/bin/chromium -a -d /usr/share/fonts/opentype/ipafont-gothic || \
		(export DEBIAN_FRONTEND=noninteractive; apt-get install -y $(BROWSER_PACKAGES) || \
		(apt-get update && apt-get install -y $(BROWSER_PACKAGES)))

test: $(STAMP) browser
	$(BIN)/python -m pytest -q -n auto

# The edit-test loop: SQLite only, without the slow kinds (browser, e2e, crash).
# CI and `make test` run everything on both backends.
test-fast: $(STAMP)
	ENISHI_TEST_DATABASE_URL= $(BIN)/python -m pytest -q -n auto -m "not browser and not e2e and not crash"

# Refresh docs/screenshots/ from the browser tests (SQLite only; `make test` leaves them be).
screenshots: $(STAMP) browser
	ENISHI_SCREENSHOTS=1 ENISHI_TEST_DATABASE_URL= $(BIN)/python -m pytest -q -n auto tests/web -k "browser"

bench: $(STAMP)
	$(BIN)/python -m bench.emulator_throughput
	$(BIN)/python -m bench.emulator_simulation
	$(BIN)/python -m bench.webhook_intake
	$(BIN)/python -m bench.tracked_links
	$(BIN)/python -m bench.segments
	$(BIN)/python -m bench.delivery
	$(BIN)/python -m bench.delivery --rate-limit-scale 0.1
	$(BIN)/python -m bench.delivery_report
	$(BIN)/python -m bench.click_analysis
	$(BIN)/python -m bench.web_reports

lint: $(STAMP)
	$(BIN)/ruff check enishi tests bench
	$(BIN)/ruff format --check enishi tests bench

format: $(STAMP)
	$(BIN)/ruff format enishi tests bench
	$(BIN)/ruff check --fix enishi tests bench

# Re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^enishi' > constraints.txt

# Until the first release the schema is one migration, regenerated from the models.
migration-initial: $(STAMP)
	$(BIN)/python -m enishi.db.regenerate_initial

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
