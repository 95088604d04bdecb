"""pip install for plain machines; on a ROS 2 install, colcon builds the package with CMakeLists.txt instead.

rclpy and the ROS message packages are never hard requirements here: on a robot they come from
the sourced ROS 2 distro. A machine without ROS 2 gets them from PyPI wheels with the
``ros-wheels`` extra (scripts/setup.sh does this).
"""

import os
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_requirements(name):
    lines = (HERE / "requirements" / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip() and not line.startswith("-r")]


def share_files():
    """Install config/, launch/, models/ and worlds/ under share/shadowpeft_ros, as colcon does."""
    out = []
    for top in ("config", "launch", "models", "worlds"):
        for root, _dirs, files in os.walk(HERE / top):
            if files:
                rel = Path(root).relative_to(HERE)
                out.append((f"share/shadowpeft_ros/{rel}", [str(rel / f) for f in sorted(files)]))
    return out


EXTRAS = {
    "speech": ["faster-whisper>=1.2", "sounddevice>=0.4", "soundfile>=0.12", "scipy>=1.10", "openai-whisper"],
    "llm": ["torch>=2.4", "transformers>=5.0", "peft==0.21.2", "accelerate>=1.0", "gguf>=0.10", "safetensors",
            "xgrammar>=0.2.9", "text2num>=3.1"],
    "sim": ["mujoco>=3.2", "matplotlib>=3.7"],
    "serve": ["fastapi>=0.110", "uvicorn>=0.29", "httpx>=0.27"],
    "eval": ["matplotlib>=3.7", "jiwer>=3.0"],
    "ros-wheels": read_requirements("ros-wheels.txt"),
    # colcon-building msg/ from the wheels (scripts/build_ros.sh); colcon itself: requirements/colcon.txt.
    "ros-build": read_requirements("ros-build.txt"),
}
EXTRAS["robot"] = sorted({r for k in ("speech", "llm", "sim", "serve", "eval") for r in EXTRAS[k]})

NODE_EXECUTABLES = ("speech", "interpreter", "motion", "sim", "speaker")

setup(
    name="shadowpeft_ros",
    version="0.1.0",
    description="Voice control of a quadruped robot dog with a ShadowPEFT-adapted language model (ROS 2).",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["shadowpeft_ros", "shadowpeft_ros.*"]),
    install_requires=["numpy>=1.24", "PyYAML>=6.0", "tqdm>=4.60"],
    extras_require=EXTRAS,
    data_files=share_files(),
    entry_points={
        "console_scripts": ["shadowpeft = shadowpeft_ros.cli:main"]
        + [f"shadowpeft-{n}-node = shadowpeft_ros.nodes.{n}_node:main" for n in NODE_EXECUTABLES],
    },
)
