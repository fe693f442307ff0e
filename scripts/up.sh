#!/usr/bin/env bash
# Installs what is needed, then starts Citadel on its embedded default (config/citadel.yaml):
# SmolLM2-135M-Instruct on the built-in engine behind the gateway on http://127.0.0.1:8000.
# Extra arguments go to `citadel up`, e.g. scripts/up.sh --config config/other.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/citadel up "$@"
