#!/usr/bin/env bash
# Build this package with colcon on a machine WITHOUT a ROS 2 install, from the pinned PyPI wheels:
# the messages of msg/ become real generated types (shadowpeft_ros.msg), installed with the nodes
# into a colcon workspace under .colcon/ (build/, install/, log/). On a sourced ROS 2 distro use
# plain `colcon build` instead (README, "On a ROS 2 install").
#
# Safe to run again: it does nothing when the install is up to date with the sources.
# Environment: SHADOWPEFT_VENV (default .venv), SHADOWPEFT_COLCON_WS (default .colcon),
# SHADOWPEFT_SKIP_SETUP=1 to skip scripts/setup.sh (the venv is already set up).
# Afterwards: `source .colcon/install/setup.bash` gives what a ROS user has after sourcing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

fail() { echo "build_ros: error: $*" >&2; exit 2; }

if [ -n "${ROS_DISTRO:-}" ]; then
  fail "ROS_DISTRO=$ROS_DISTRO is sourced: this script builds from the PyPI wheels for plain machines; "\
"on a ROS 2 install run 'colcon build --packages-select shadowpeft_ros' in the workspace instead"
fi

[ "${SHADOWPEFT_SKIP_SETUP:-0}" = 1 ] || scripts/setup.sh

VENV=$(cd "${SHADOWPEFT_VENV:-.venv}" 2>/dev/null && pwd) \
  || fail "no virtual environment at ${SHADOWPEFT_VENV:-.venv} (run scripts/setup.sh, or set SHADOWPEFT_VENV)"
PY=$VENV/bin/python3
[ -x "$PY" ] || fail "$PY is missing: ${VENV} is not a virtual environment (run scripts/setup.sh)"
WS=${SHADOWPEFT_COLCON_WS:-.colcon}
mkdir -p "$WS" && WS=$(cd "$WS" && pwd)

# --- what the build needs, each named with what provides it ---------------------------------
version=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
  3.11|3.12|3.13) ;;
  *) fail "$PY is Python $version; the ROS 2 Kilted wheels exist for CPython 3.11-3.13 only (make the venv with one of those: PYTHON=python3.11 scripts/setup.sh)" ;;
esac
for tool in cmake make c++; do
  command -v "$tool" >/dev/null || fail "'$tool' is not on PATH (Debian: apt-get install cmake make g++)"
done

"$PY" - "$VENV" <<'EOF' || exit 2
import importlib.util, pathlib, sys
venv = pathlib.Path(sys.argv[1])
missing = []
# Python modules the CMake generators run in this Python, and the wheel that ships each.
for module, wheel in [("rclpy", "ros-rclpy"), ("numpy", "numpy"), ("catkin_pkg", "catkin-pkg"),
                      ("em", "empy"), ("lark", "lark-parser"), ("ament_package", "ros-ament-package"),
                      ("rosidl_generator_py", "ros-rosidl-generator-py"), ("rosidl_parser", "ros-rosidl-parser"),
                      ("rosidl_adapter", "ros-rosidl-adapter")]:
    if importlib.util.find_spec(module) is None:
        missing.append(f"{wheel} (Python module {module})")
# CMake packages that find_package() looks up under the venv's share/.
for package in ["ament_cmake", "ament_cmake_core", "ament_cmake_python", "ament_cmake_include_directories",
                "ament_cmake_ros_core", "python_cmake_module", "rosidl_default_generators",
                "rosidl_core_generators", "rosidl_generator_py", "rosidl_default_runtime", "builtin_interfaces",
                "rosidl_typesupport_fastrtps_c", "rmw_fastrtps_cpp"]:
    share = venv / "share" / package / "cmake"
    if not any(share.glob(f"{package}Config.cmake")) and not any(share.glob(f"{package}-config.cmake")):
        missing.append(f"ros-{package.replace('_', '-')} (CMake package {package})")
if missing:
    sys.exit("build_ros: error: missing in " + str(venv) + ":\n  " + "\n  ".join(missing) +
             "\ninstall them with: " + str(venv) + "/bin/python -m pip install -r requirements/ros-build.txt "
             "-c requirements/constraints.txt (scripts/setup.sh does this)")
EOF

# --- colcon, in a venv of its own (requirements/ros-build.txt says why) -----------------------
TOOLS=$WS/tools
colcon_stamp=$(sha256sum requirements/colcon.txt | cut -c1-16)
if [ "$(cat "$TOOLS/.stamp" 2>/dev/null)" != "$colcon_stamp" ]; then
  echo "build_ros: installing colcon into $TOOLS"
  base_python=$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
  "$base_python" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q -r requirements/colcon.txt > "$WS/tools-install.log" 2>&1 \
    || { tail -20 "$WS/tools-install.log" >&2; fail "could not install colcon from requirements/colcon.txt into $TOOLS"; }
  echo "$colcon_stamp" > "$TOOLS/.stamp"
fi

# --- the one fix-up the wheels need -----------------------------------------------------------
# The *__rosidl_generator_pyExport.cmake files of the message wheels name the wheel builder's Python
# and numpy include directories (/opt/python/cp3XX-cp3XX/...); CMake refuses imported targets with
# include directories that do not exist. Point them at this venv's own.
"$PY" - "$VENV" <<'EOF'
import pathlib, re, sys, sysconfig
import numpy
venv = pathlib.Path(sys.argv[1])
python_include = sysconfig.get_paths()["include"]
numpy_include = numpy.get_include()
fixed = 0
for path in sorted(venv.glob("share/*/cmake/export_*__rosidl_generator_pyExport.cmake")):
    text = path.read_text()
    new = re.sub(r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include", numpy_include, text)
    new = re.sub(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+", python_include, new)
    if new != text:
        path.write_text(new)
        fixed += 1
if fixed:
    print(f"build_ros: pointed {fixed} rosidl_generator_py export files at {python_include} and {numpy_include}")
EOF

# --- skip when the install already holds these sources ----------------------------------------
INSTALL=$WS/install
stamp=$( { echo "$PY"; cat requirements/ros-build.txt requirements/colcon.txt;
           find CMakeLists.txt package.xml msg executables launch config models worlds shadowpeft_ros \
             -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum; } \
         | sha256sum | cut -c1-16)
if [ "$(cat "$INSTALL/.shadowpeft-build-stamp" 2>/dev/null)" = "$stamp" ] \
   && [ -f "$INSTALL/shadowpeft_ros/share/shadowpeft_ros/package.xml" ]; then
  echo "build_ros: up to date ($INSTALL)"
  exit 0
fi

echo "build_ros: colcon build of shadowpeft_ros into $INSTALL (about a minute the first time)"
export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV
export LD_LIBRARY_PATH=$VENV/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
start=$(date +%s)
# Build from a staged copy of the package's own files: CMake refuses imported include directories
# inside the source tree, and the venv that provides them (.venv) lives inside the repository.
STAGE=$WS/src/shadowpeft_ros
rm -rf "$STAGE" && mkdir -p "$STAGE"
for item in CMakeLists.txt package.xml msg executables launch config models worlds shadowpeft_ros; do
  [ -e "$item" ] && cp -r "$item" "$STAGE/"
done
find "$STAGE" -name __pycache__ -prune -exec rm -rf {} +
# A build directory configured from another source tree (an older layout) cannot be reused.
cache=$WS/build/shadowpeft_ros/CMakeCache.txt
if [ -f "$cache" ] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$STAGE\$" "$cache"; then
  rm -rf "$WS/build/shadowpeft_ros"
fi
if ! "$TOOLS/bin/colcon" --log-base "$WS/log" build --base-paths "$WS/src" \
      --build-base "$WS/build" --install-base "$INSTALL" --event-handlers console_cohesion+ \
      --cmake-args -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF > "$WS/build.log" 2>&1; then
  tail -40 "$WS/build.log" >&2
  fail "colcon build failed; the whole output is in $WS/build.log, the per-step logs in $WS/log/latest_build"
fi
echo "$stamp" > "$INSTALL/.shadowpeft-build-stamp"
echo "build_ros: built in $(( $(date +%s) - start )) s; source $INSTALL/setup.bash to use it"
