# The README's two commands. Each installs what it needs first (Debian packages + pip).
.PHONY: demo test setup lint typecheck unit docs docs-check bench

demo: setup
	scripts/demo

test: setup lint typecheck docs-check unit

setup:
	scripts/setup

lint:
	ruff check .
	ruff format --check .
	lint-imports

typecheck:
	mypy

unit:
	python3 -m pytest -q

docs:
	python3 -m fdleak.cli.docs > docs/cli.md

docs-check:
	python3 -m fdleak.cli.docs | diff -u docs/cli.md - || (echo "docs/cli.md is stale: run 'make docs'"; exit 1)

bench:
	python3 bench/analyze.py
