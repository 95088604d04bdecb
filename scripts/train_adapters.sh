#!/usr/bin/env bash
# Train the three interpreter adapters on SmolLM2-135M (CPU) and write them to models/adapters/.
# Checkpoints go to runs/ (ignored by git); rerunning this script resumes unfinished runs.
# Equivalent to: shadowpeft train --method M --backbone smollm2-135m --out models/adapters/M --steps N --resume
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
THREADS=${THREADS:-2}
SEED=${SEED:-0}
# INIT_ROOT=DIR starts each method from DIR/<method> (a second stage: fresh data from another SEED, new schedule).
INIT_ROOT=${INIT_ROOT:-}
RUN_TAG=${INIT_ROOT:+stage2-}

train() {  # METHOD STEPS
  # Only the train subcommand is registered, so this runs even where other subcommands cannot import.
  "$PY" - "$1" "$2" <<'PYEOF'
import argparse, logging, sys
from shadowpeft_ros.cli import train
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
method, steps = sys.argv[1], sys.argv[2]
parser = argparse.ArgumentParser(prog="shadowpeft")
train.register(parser.add_subparsers())
import os
argv = ["train", "--method", method, "--backbone", "smollm2-135m", "--out", f"models/adapters/{method}",
        "--steps", steps, "--seed", os.environ["SEED"], "--threads", os.environ["THREADS"], "--resume",
        "--run-dir", f"runs/{os.environ['RUN_TAG']}{method}", "--save-dtype", "float16"]
if os.environ.get("INIT_ROOT"):
    argv += ["--init-adapter", f"{os.environ['INIT_ROOT']}/{method}"]
args = parser.parse_args(argv)
sys.exit(args.func(args))
PYEOF
}

# PARALLEL=1 trains the three at once, one thread each: on a shared 2-core machine this wastes less
# time in OpenMP barriers than one 2-thread run after another (measured here: 31 s/step sequentially).
PARALLEL=${PARALLEL:-0}
export SEED THREADS INIT_ROOT RUN_TAG
pids=()
for spec in "shadow:${SHADOW_STEPS:-110}" "lora:${LORA_STEPS:-110}" "dora:${DORA_STEPS:-110}"; do
  method=${spec%%:*}; steps=${spec#*:}
  if [[ -f models/adapters/$method/metrics.json ]] && [[ -z "${FORCE:-}" ]]; then
    echo "== $method already trained (models/adapters/$method/metrics.json); set FORCE=1 to retrain"; continue
  fi
  echo "== $method: $steps steps, started $(date -u +%H:%M:%S)"
  if [[ "$PARALLEL" == 1 ]]; then
    mkdir -p runs
    train "$method" "$steps" > "runs/train-$method.log" 2>&1 &
    pids+=($!)
  else
    train "$method" "$steps"
    echo "== $method: finished $(date -u +%H:%M:%S)"
  fi
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
[[ "$PARALLEL" == 1 ]] && echo "== all finished $(date -u +%H:%M:%S) (status $status; logs in runs/train-*.log)"
exit $status
