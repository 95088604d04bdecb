#!/usr/bin/env bash
# The README's demo command: set up (idempotent), then speak a command to the simulated dog.
# Extra arguments go to `shadowpeft dog` (see `.venv/bin/shadowpeft dog --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p runs/demo
if [ $# -eq 0 ]; then
  set -- --say "walk forward one meter, then turn left and sit" \
         --report runs/demo/report.json --plot runs/demo/trajectory.png
fi
exec "${SHADOWPEFT_VENV:-.venv}/bin/shadowpeft" dog "$@"
