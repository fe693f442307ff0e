#!/usr/bin/env bash
# Installs what is needed, then runs every check CI runs: ruff, mypy (strict) and the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k gateway
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --dev
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
exec .venv/bin/pytest "$@"
