#!/usr/bin/env bash
# The README's test command: set up (idempotent), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${SHADOWPEFT_VENV:-.venv}/bin/python" -m pytest "$@"
