#!/usr/bin/env bash
# The README's test command: set up (idempotent), colcon-build the package and its messages
# (idempotent; the generated-type tests run against that install), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
SHADOWPEFT_SKIP_SETUP=1 scripts/build_ros.sh
# The generated-type tests fail, rather than skip, when the build above did not produce an install.
export SHADOWPEFT_ROS_INSTALL=${SHADOWPEFT_COLCON_WS:-.colcon}/install
exec "${SHADOWPEFT_VENV:-.venv}/bin/python" -m pytest "$@"
