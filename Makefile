# fer_ros development tasks. On a fresh machine (Debian/Ubuntu with python3-venv, cmake, a C/C++ compiler):
#   make demo    set everything up, then run the ROS 2 graph offline on a sample video (no camera needed)
#   make test    set everything up, lint, run the test suite
# `make setup` is idempotent: each step has a stamp file under .venv/.stamps and re-runs only when its inputs
# change (a no-op run takes seconds).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
BUILD_DIR := $(CURDIR)/build/venv
SHARED ?= $(abspath $(CURDIR)/../shared)
MODEL_MIRROR ?= $(SHARED)/models
MEDIA_MIRROR ?= $(SHARED)/media
JOBS ?= 2
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 300

REQUIREMENTS := requirements/runtime.txt requirements/build.txt requirements/dev.txt requirements/lock.txt
# launch/ and config/ are installed as per-file links (share/fer_ros): a new file there re-runs the install.
INTERFACE_INPUTS := $(wildcard msg/*.msg cmake/*.cmake launch config) CMakeLists.txt package.xml fer_ros/nodes/__init__.py
# ROS 2 launch, launch_testing and the ros2 command: on no registry; wheels from this mirror (ros-tools/README.md).
ROS_TOOLS_MIRROR ?= $(SHARED)/ros-tools
ROS_TOOLS_WHEELS := $(wildcard $(ROS_TOOLS_MIRROR)/wheels/*.whl)
CMAKE_ROS = export AMENT_PREFIX_PATH=$(VENV) PATH=$(VENV)/bin:$$PATH; \
	cmake -S $(1) -B $(2) -DCMAKE_INSTALL_PREFIX=$(VENV) -DPython3_EXECUTABLE=$(PY) -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=Release --log-level=WARNING $(3) >$(2)/configure.log 2>&1 \
		|| { cat $(2)/configure.log; exit 1; }; \
	cmake --build $(2) -j $(JOBS) >$(2)/build.log 2>&1 || { tail -50 $(2)/build.log; exit 1; }; \
	cmake --install $(2) >$(2)/install.log 2>&1 || { cat $(2)/install.log; exit 1; }

.PHONY: help setup setup-train model model-fer2013 maixcam-model models interfaces ros-tools lint format test demo lock clean \
	distclean

help:
	@echo "make setup   create .venv: pinned requirements, messages built by rosidl, fer_ros editable, models,"
	@echo "             ROS 2 launch/launch_testing/ros2 CLI from ROS_TOOLS_MIRROR or a ROS 2 install"
	@echo "make demo    setup, then run the ROS 2 graph on a sample video: build/demo/annotated.mp4 + summary"
	@echo "make test    setup, ruff, pytest (PYTEST_ARGS='-m \"not ros\"' to skip the DDS tests)"
	@echo "make model   retrain the default FER+ model (base, teachers, distilled student; TEACHERS= TRAIN_DEVICE=cuda)"
	@echo "             make model-fer2013 the FER2013 one after it"
	@echo "make maixcam-model  compile both models for the MaixCAM NPU (tpu-mlir, own Python 3.10 venv, 2 GB):"
	@echo "             build/maixcam/models/*.cvimodel + .mud, build/maixcam/app/fer_ros_bridge"
	@echo "make lint    ruff check"
	@echo "make lock    re-pin requirements/lock.txt from the current venv"
	@echo "make clean   remove build outputs (keeps .venv); make distclean also removes .venv"
	@echo "Variables: MODEL_MIRROR=$(MODEL_MIRROR)  MEDIA_MIRROR=$(MEDIA_MIRROR)  DEMO_SOURCE=..."
	@echo "           ROS_TOOLS_MIRROR=$(ROS_TOOLS_MIRROR)"
	@echo "           FER_ROS_MODEL_DIR=$${FER_ROS_MODEL_DIR:-~/.cache/fer_ros/models}"

setup: $(STAMPS)/editable models ros-tools

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/requirements: $(REQUIREMENTS) | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -c requirements/lock.txt \
		-r requirements/runtime.txt -r requirements/build.txt -r requirements/dev.txt
	@mkdir -p $(STAMPS) && touch $@

# Messages: rosidl via CMake into the venv prefix (see CMakeLists.txt, FER_ROS_EDITABLE_PYTHON).
$(STAMPS)/interfaces: $(STAMPS)/requirements $(INTERFACE_INPUTS)
	@command -v cmake >/dev/null || { echo "cmake not found: apt-get install cmake g++" >&2; exit 1; }
	mkdir -p $(BUILD_DIR); $(call CMAKE_ROS,.,$(BUILD_DIR),-DFER_ROS_EDITABLE_PYTHON=ON)
	@touch $@

# fer_ros from this checkout, as a path entry (.pth) so that `fer_ros` is the repository's package and its
# __init__ joins the installed fer_ros/msg to it; then prove it with no environment at all.
$(STAMPS)/editable: $(STAMPS)/interfaces setup.py fer_ros/nodes/__init__.py
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e .
	@# Every Python of the venv (ros2, launch, the nodes) finds the venv's ament index, after any prefix the
	@# user sourced (a colcon install, /opt/ros): `source .venv/bin/activate` is all the environment needed.
	echo 'import os, sys; os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(dict.fromkeys([*filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)), sys.prefix]))' \
		> $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/fer_ros_ament_prefix.pth
	env -i $(PY) -c 'import fer_ros, fer_ros.msg, sys; \
		sys.exit(0 if fer_ros.__file__ == "$(CURDIR)/fer_ros/__init__.py" else \
		"fer_ros resolves to " + fer_ros.__file__ + ", not this checkout")'
	@touch $@

# Models: verified copies from a local mirror when there is one (offline robots, CI), else downloaded.
models: $(STAMPS)/editable
	@if [ -d "$(MODEL_MIRROR)" ]; then \
		$(VENV)/bin/fer-ros models install --from "$(MODEL_MIRROR)" | sed 's/^/  /'; \
	else \
		echo "no model mirror at $(MODEL_MIRROR): fetching models from their public addresses"; \
		$(VENV)/bin/fer-ros models fetch; \
	fi

interfaces: $(STAMPS)/interfaces

# ROS 2 tooling (launch, launch_ros, launch_testing, ros2 CLI): a sourced ROS 2 install has it already; else the
# mirror's wheels, installed by file path (PyPI has unrelated projects with the same names), their pinned PyPI
# dependencies, and composition_interfaces (imported by launch_ros) built with rosidl like our messages.
# Neither: one line, and the launch tests skip saying why. `make demo` needs none of it.
ros-tools: $(STAMPS)/editable
	@where=$$($(PY) -c 'import launch_ros, os; print(os.path.dirname(launch_ros.__file__))' 2>/dev/null || true); \
	if [ -n "$$where" ] && [[ "$$where" != $(VENV)/* ]]; then \
		echo "ROS 2 tooling: using the sourced ROS 2 install ($$where)"; \
	elif [ -n "$(ROS_TOOLS_WHEELS)" ]; then \
		$(MAKE) --no-print-directory $(STAMPS)/ros-tools; \
	elif [ -n "$$where" ]; then \
		echo "ROS 2 tooling: kept as installed earlier (no mirror at $(ROS_TOOLS_MIRROR) now)"; \
	else \
		echo "ROS 2 tooling not installed: no ROS 2 install sourced and no mirror at $(ROS_TOOLS_MIRROR)" \
			"(set ROS_TOOLS_MIRROR): ros2 launch and the launch tests are unavailable; make demo works without"; \
	fi

$(STAMPS)/ros-tools: $(ROS_TOOLS_WHEELS) requirements/ros-tools.txt $(STAMPS)/interfaces
	$(PY) -m pip install --disable-pip-version-check -q -c requirements/lock.txt -r requirements/ros-tools.txt
	@# Last, and without dependency resolution: their metadata names ROS packages (ament_index_python...) that
	@# the venv has under their PyPI names (ros-ament-index-python...).
	$(PY) -m pip install --disable-pip-version-check -q --no-deps $(ROS_TOOLS_WHEELS)
	mkdir -p build/composition_interfaces
	$(call CMAKE_ROS,$(ROS_TOOLS_MIRROR)/src/composition_interfaces,build/composition_interfaces,\
		-DCMAKE_PROJECT_INCLUDE=$(CURDIR)/cmake/ros_wheels_include_dirs.cmake)
	@touch $@

# Training extra: PyTorch's CPU build (torch==2.13.0 installs from this machine's local disk) and onnx.
setup-train: $(STAMPS)/train
$(STAMPS)/train: requirements/train.txt $(STAMPS)/editable
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/train.txt
	@touch $@

# The default FER+ model, `fer-ros train recipe` (each step resumes after an interruption): the base network
# (v1 recipe, about an hour on a 2-core CPU), the teachers TEACHERS (ARCH:SEED, several hours each on a CPU;
# TEACHERS= : the base model alone), the distilled student, export, calibration, int8 copy. TRAIN_DEVICE=cuda
# trains on a GPU. See fer_ros/models/MODEL_CARD.md for the path that made the shipped files.
TRAIN_DIR ?= build/train
RUN_DIR ?= $(TRAIN_DIR)/ferplus
TRAIN_DEVICE ?= auto
TEACHERS ?= wide:1,wide:2,large:3
model: setup-train
	$(VENV)/bin/fer-ros train recipe --out $(TRAIN_DIR) --device $(TRAIN_DEVICE) --teachers "$(TEACHERS)" \
		--data-dir $(SHARED)/data --detector $(SHARED)/models/yunet/yunet_s_640_640.onnx

# The FER2013-protocol model: fine-tunes the FER+ run above on the FER2013 labels (about 25 minutes more).
FER2013_RUN_DIR ?= build/train/fer2013
model-fer2013: setup-train
	$(VENV)/bin/fer-ros train run --out $(FER2013_RUN_DIR) --resume --protocol fer2013 --epochs 12 --lr 0.002 \
		--init-from $(RUN_DIR)/best.pt
	$(VENV)/bin/fer-ros train export --checkpoint $(FER2013_RUN_DIR)/best.pt --template $(RUN_DIR)/template.json \
		--out fer_ros/models/fer_ros_fer2013.onnx --name fer_ros_fer2013 --tta-flip
	$(VENV)/bin/fer-ros train quantize --model fer_ros/models/fer_ros_fer2013.onnx \
		--out fer_ros/models/fer_ros_fer2013_int8.onnx
	$(VENV)/bin/fer-ros train calibrate --model fer_ros/models/fer_ros_fer2013.onnx \
		fer_ros/models/fer_ros_fer2013_int8.onnx

# The MaixCAM NPU models (release artefacts, not part of `make test`): tpu-mlir in its own pinned Python 3.10
# venv under MAIXCAM_OUT, INT8 cv181x .cvimodel + .mud per model, gated on simulator agreement with onnxruntime.
# See maixcam_bridge/tools/build_model.py. PYTHON310= names the interpreter if it is not found.
MAIXCAM_OUT ?= build/maixcam
PYTHON310 ?=
maixcam-model: $(STAMPS)/editable
	nice -n 19 $(PY) maixcam_bridge/tools/build_model.py --out $(MAIXCAM_OUT) --data $(SHARED)/data \
		--python310 "$(PYTHON310)"

lint: $(STAMPS)/requirements
	$(VENV)/bin/ruff check .

format: $(STAMPS)/requirements
	$(VENV)/bin/ruff format .

test: setup setup-train
	$(MAKE) --no-print-directory lint
	@rc=0; $(PY) -m pytest -p no:cacheprovider --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): treated as a failure" >&2; exit 1; fi; \
	exit $$rc

# The demo plays a sample video from the media mirror (a copy of shared/media; DEMO_SOURCE may be any video,
# image, image folder or webcam index) through camera, expression, overlay and mirror nodes in one process,
# with DDS kept on this machine, and leaves build/demo/annotated.mp4 and build/demo/summary.json.
DEMO_SOURCE ?= $(MEDIA_MIRROR)/pyfeat/WolfgangLanger_Pexels.mp4
DEMO_SECONDS ?= 10
demo: setup
	@[[ "$(DEMO_SOURCE)" =~ ^[0-9]+$$ ]] || [ -e "$(DEMO_SOURCE)" ] || { echo "demo sample $(DEMO_SOURCE) not found: set MEDIA_MIRROR to a copy of" \
		"shared/media, or DEMO_SOURCE to a video, an image or a folder of images" >&2; exit 1; }
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(VENV)/bin/fer-ros run --config config/fer.yaml \
		--source "$(DEMO_SOURCE)" --duration $(DEMO_SECONDS) --record build/demo

lock: $(STAMPS)/requirements
	$(PY) requirements/freeze.py

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV)
