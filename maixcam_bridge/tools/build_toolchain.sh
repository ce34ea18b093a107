#!/usr/bin/env bash
# Build the tpu-mlir toolchain (Sophgo's ONNX -> cvimodel compiler and its simulator) in its own Python 3.10
# venv, for `make maixcam-model`. Idempotent: a venv whose stamp matches the requirements file is kept.
#
#   build_toolchain.sh VENV_DIR [PYTHON3.10]
#   build_toolchain.sh --check VENV_DIR     exit 0 when VENV_DIR is built and up to date, 3 otherwise
#
# About 1.5 minutes and 2 GB from scratch (a 312 MB tpu-mlir wheel from PyPI). Each workaround below was needed
# to make tpu-mlir 1.30.2 run on Debian 12 without PyTorch; each is checked at the end by importing the tools.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECK_ONLY=0
if [ "${1:-}" = "--check" ]; then
    CHECK_ONLY=1
    shift
fi
VENV="$(realpath -m "${1:?usage: build_toolchain.sh VENV_DIR [PYTHON3.10]}")"
REQUIREMENTS="$HERE/requirements-tpu-mlir.txt"
STAMP="$VENV/.fer_ros_toolchain"
RECIPE=1  # bump when a workaround below changes: the venv is rebuilt
WANT="$( (cat "$REQUIREMENTS" "$HERE/torch_shim/torch/__init__.py"; echo "recipe $RECIPE") | sha256sum | cut -c1-16)"

find_python310() {
    # tpu-mlir's wheel is for CPython 3.10 only (Requires-Python >=3.10,<3.11).
    local candidate
    for candidate in "${1:-}" python3.10 "$(command -v pyenv >/dev/null && echo "$(pyenv root)/versions/3.10"*/bin/python3.10)" \
        /root/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "build_toolchain.sh: no Python 3.10 found (tpu-mlir needs exactly 3.10): install it (pyenv install 3.10," \
        "or apt-get install python3.10-venv) or pass its path" >&2
    return 1
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    echo "tpu-mlir toolchain: up to date in $VENV"
    exit 0
fi
if [ "$CHECK_ONLY" = 1 ]; then
    echo "tpu-mlir toolchain: $VENV is missing or out of date (make maixcam-model builds it)"
    exit 3
fi

PYTHON310="$(find_python310 "${2:-}")"
echo "tpu-mlir toolchain: building $VENV with $PYTHON310 (about 1.5 minutes, 2 GB)"
rm -rf "$VENV"
"$PYTHON310" -m venv "$VENV"
# Every package pinned; tpu-mlir's own wheel pins its dependencies, the rest is the freeze of a working venv.
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS"

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
TPU="$SITE/tpu_mlir"

# Workaround 1: the wheel bundles Ubuntu 22.04's glibc (libc.so.6, libm.so.6, libpthread.so.0 in
# tpu_mlir/lib/third_party) and puts that folder first on the library path, so on a newer glibc (Debian 12:
# 2.36) every tool dies with "GLIBC_2.36 not found" as soon as a system library is loaded. The system's glibc
# is newer and backward compatible: remove the bundled copies and let the system's be used.
rm -f "$TPU/lib/third_party/libc.so.6" "$TPU/lib/third_party/libm.so.6" "$TPU/lib/third_party/libpthread.so.0"

# Workaround 2: tpu-mlir imports torch at module level, but the ONNX path calls only torch.tensor(x).numpy(),
# and PyPI's Linux torch for Python 3.10 is a multi-GB CUDA build. Install a documented stand-in instead
# (torch_shim/torch/__init__.py): anything beyond that one call raises, naming the missing feature.
if "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("torch")' 2>/dev/null; then
    echo "tpu-mlir toolchain: a real torch is installed in $VENV, keeping it"
else
    rm -rf "$SITE/torch"
    cp -r "$HERE/torch_shim/torch" "$SITE/torch"
fi

# Workaround 3 (in the requirements file): filelock, psutil and onnxsim are imported but not declared by the
# base wheel; setuptools stays < 70 because tpu_mlir/__init__.py imports pkg_resources.

# Prove the tools start (each imports tpu_mlir and loads its libraries).
for tool in model_transform run_calibration model_deploy model_runner; do
    if ! out="$(cd "$VENV" && "$VENV/bin/$tool" --help 2>&1)"; then
        echo "tpu-mlir toolchain: $tool --help failed:" >&2
        echo "$out" | tail -20 >&2
        exit 1
    fi
done
echo "$WANT" > "$STAMP"
echo "tpu-mlir toolchain: ready in $VENV ($(du -sh "$VENV" | cut -f1))"
