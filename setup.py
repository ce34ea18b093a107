"""pip installation of the fer_ros Python package (``pip install -e .`` in the development venv).

A ROS workspace builds this package with colcon through CMakeLists.txt instead (build_type ament_cmake), which
also generates the message classes; see README.md.
"""

import ast
import re
from pathlib import Path

from setuptools import find_packages, setup

# The node executables: the one list in fer_ros/nodes/__init__.py, read as text (the package is not importable yet).
_NODES_LINE = re.search(r"^NODES = (\(.*\))$", (Path(__file__).parent / "fer_ros/nodes/__init__.py").read_text(), re.M)
NODES: tuple[str, ...] = ast.literal_eval(_NODES_LINE.group(1))

setup(
    name="fer_ros",
    version="0.1.0",
    description="Facial expression recognition for robots (ROS 2): face detection, alignment, ONNX "
    "expression classification, tracking, smoothing.",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=("fer_ros", "fer_ros.*")),
    # The MaixCAM wire protocol: one file shared by the device app (maixcam_bridge/ is the MaixPy app folder,
    # no __init__.py) and the bridge node, which imports it as maixcam_bridge.fer_maix_protocol.
    py_modules=["maixcam_bridge.fer_maix_protocol"],
    package_data={"fer_ros": ["models/*.onnx", "models/sidecars/*.json", "training/recipes/*.json"]},
    install_requires=[
        "numpy",
        "onnxruntime",
        "opencv-python-headless",
        "pyyaml",
        "rosbags",
        "mcap",
        "tqdm",
    ],
    extras_require={
        "train": ["torch==2.13.0", "onnx"],
        "dev": ["pytest", "pytest-timeout", "ruff", "mcap-ros2-support"],
    },
    entry_points={
        "console_scripts": [
            "fer-ros = fer_ros.cli.main:main",
            *(f"fer-ros-{node.replace('_', '-')} = fer_ros.nodes.{node}:main" for node in NODES),
        ],
    },
)
