#!/usr/bin/env bash
# Build (once) and install the pinned llama-cpp-python with a portable CPU configuration.
#
# Why: pip's default build compiles llama.cpp with -march=native. On CPUs that advertise AMX
# (recent Xeons, and VMs on them) that build enables ggml's AMX matmul, which crashed every
# multi-token decode on our CI machines. A portable AVX2/FMA/F16C build runs everywhere x86-64
# has been sold for a decade. pip's wheel cache ignores CMAKE_ARGS, so the wheel is kept in a
# folder named after the flags instead.
#
# GPU users: set OUTTHINK_CMAKE_ARGS, e.g. "-DGGML_CUDA=on" or "-DGGML_VULKAN=on" (README).
set -euo pipefail
PIP=${1:?usage: build_llama_wheel.sh PATH/TO/pip | --print-cmake-args}
VERSION=$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)
case "$(uname -m)-$(uname -s)" in
  x86_64-Linux|x86_64-Windows*|AMD64-*)
    DEFAULT_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
  *) DEFAULT_ARGS="" ;;  # macOS (Metal) and ARM: llama.cpp's defaults are right
esac
ARGS=${OUTTHINK_CMAKE_ARGS:-$DEFAULT_ARGS}
# llama-cpp-python's own switch: its multimodal library (libmtmd, for image models) is not
# loaded by Outthink, and skipping it makes the one-time build shorter (docs/build.md).
WHEEL_ARGS="$ARGS -DLLAVA_BUILD=OFF"
if [ "$PIP" = "--print-cmake-args" ]; then  # the benchmark builds native tools the same way
  echo "$ARGS"
  exit 0
fi
TAG=$(printf '%s' "$VERSION $WHEEL_ARGS" | sha256sum | cut -c1-12)
CACHE=${OUTTHINK_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outthink/wheels}/$TAG
if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "Building llama-cpp-python $VERSION ($WHEEL_ARGS); this takes a few minutes once." >&2
  mkdir -p "$CACHE"
  CMAKE_ARGS="$WHEEL_ARGS" "$PIP" wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -w "$CACHE"
fi
"$PIP" install --quiet --force-reinstall --no-deps "$CACHE"/llama_cpp_python-"$VERSION"-*.whl
