#!/usr/bin/env bash
# Check what packaging/build.sh made, the way a user meets it (`make package` runs this):
#   app    the frozen app in dist/outthink/: --version, then --self-check with the default
#          model (the starter when bundled) and with the bundled tiny model, all with no
#          Python environment (env -i: no VIRTUAL_ENV, PYTHONPATH or PYTHONHOME; a throwaway
#          HOME, so nothing lands in your folders);
#   wheel  dist/outthink-*.whl in a fresh virtual environment, llama-cpp-python coming from the
#          local wheel cache (packaging/build_llama_wheel.sh): --version and --self-check.
# Usage: bash packaging/check_package.sh [app|wheel|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
# The caller's Python settings must not leak into the fresh environment (a PYTHONPATH that
# reaches a checkout makes pip think Outthink is installed already).
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
PY=${PYTHON:-.venv/bin/python}
DIST=${OUTTHINK_DIST_DIR:-dist}
WHAT=${1:-all}
VERSION=$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "check_package.sh: FAILED: $*" >&2; exit 1; }
bare() { env -i PATH=/usr/bin:/bin HOME="$TMP/home" LANG=C.UTF-8 "$@"; }
expect_version() {  # $1: the outthink command
  local got
  got=$(bare "$1" --version) || fail "$1 --version exited with $?"
  [ "$got" = "outthink $VERSION" ] || fail "$1 --version says '$got', expected 'outthink $VERSION'"
  echo "ok: $got"
}
self_check() {  # $1: the outthink command, $2: where it should say it runs from, $3...: args
  local cmd=$1 where=$2 out
  shift 2
  out=$(bare "$cmd" --self-check "$@" 2>&1) || { echo "$out" >&2; fail "$cmd --self-check $* failed"; }
  echo "$out" | sed 's/^/    /'
  grep -q "^Outthink $VERSION self-check ($where," <<<"$out" || fail "not run as a $where"
  echo "ok: --self-check${*:+ $*}"
}

if [ "$WHAT" = app ] || [ "$WHAT" = all ]; then
  APP="$DIST/outthink/outthink"
  [ -x "$APP" ] || fail "no $APP: run packaging/build.sh first"
  echo "== frozen app: $APP"
  expect_version "$APP"
  self_check "$APP" "frozen app"
  self_check "$APP" "frozen app" tiny
fi

if [ "$WHAT" = wheel ] || [ "$WHAT" = all ]; then
  WHEEL=$(ls "$DIST"/outthink-"$VERSION"-*.whl 2>/dev/null | head -n 1)
  [ -n "$WHEEL" ] || fail "no outthink $VERSION wheel in $DIST: run packaging/build.sh first"
  echo "== wheel: $WHEEL"
  "$PY" -m venv "$TMP/venv"
  # The pinned llama-cpp-python from the local wheel cache (built once), then the wheel with
  # its other dependencies from the package index.
  bash packaging/build_llama_wheel.sh "$TMP/venv/bin/pip"
  "$TMP/venv/bin/pip" install --quiet "$WHEEL"
  expect_version "$TMP/venv/bin/outthink"
  # No starter extra here: the self-check must find the model the wheel carries.
  self_check "$TMP/venv/bin/outthink" "installed package"
fi
echo "check_package.sh: all checks passed."
