# The two commands of the README: `make demo` and `make test`.
# Each creates (or refreshes) its own virtualenv from nothing but this repo and the registries.
PYTHON ?= python3.11
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: demo demo-stop test venv clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,mssql,corpus]'
	@# SpatiaLite for the corpus (tests/corpus) comes from Debian; without it that one case skips.
	dpkg -s libsqlite3-mod-spatialite >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libsqlite3-mod-spatialite; } || echo "libsqlite3-mod-spatialite not installed: the SpatiaLite corpus case will skip"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cutover demo

demo-stop: $(STAMP)
	$(VENV)/bin/cutover demo --stop

test: $(STAMP)
	$(VENV)/bin/ruff format --check cutover tests bench
	$(VENV)/bin/ruff check cutover tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m mypy cutover
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) .cutover
