#!/usr/bin/env bash
# Build Outthink's packages (`make package`):
#   dist/outthink-VERSION-py3-none-any.whl   the wheel (models.toml and assets/ inside)
#   dist/outthink/                           the one-folder desktop app (PyInstaller)
#   dist/Outthink.app                        on macOS, the app bundle
# Then check them with packaging/check_package.sh.
#
# Runs from the development environment (`make` creates it): PYTHON names its interpreter
# (default .venv/bin/python), which needs Outthink installed (pip install -e '.[dev,starter]')
# and the packaging tools (build, pyinstaller). OUTTHINK_DIST_DIR moves dist/;
# OUTTHINK_BUNDLE_STARTER=0 leaves the starter model out of the app (packaging/outthink.spec).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DIST=${OUTTHINK_DIST_DIR:-dist}
WORK=build/pyinstaller
LOGS=build/logs

if ! "$PY" -c 'import build, PyInstaller' 2>/dev/null; then
  echo "build.sh: $PY lacks the packaging tools: $PY -m pip install build pyinstaller" >&2
  exit 1
fi
mkdir -p "$DIST" "$LOGS"
started=$(date +%s)

# Shows a step's log only when it fails: both tools print hundreds of lines on success.
step() {
  local name=$1; shift
  echo "== $name" >&2
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    tail -n 60 "$LOGS/$name.log" >&2
    echo "build.sh: $name failed; the whole log is $LOGS/$name.log" >&2
    exit 1
  fi
}

# 1. The wheel. setuptools reuses build/lib, where a deleted module would linger: start clean.
rm -rf build/lib build/bdist.* "$DIST"/outthink-*.whl
step wheel "$PY" -m build --wheel --outdir "$DIST" .
WHEEL=$(ls "$DIST"/outthink-*.whl)

# 2. The app. No --clean: PyInstaller's cache in build/pyinstaller makes rebuilds much faster.
step pyinstaller "$PY" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" packaging/outthink.spec
APP_DIR="$DIST/outthink"

# 3. Linux: the launcher entry, its icon and a per-user installer go next to the executable.
if [ "$(uname -s)" = Linux ]; then
  cp packaging/linux/outthink.desktop packaging/linux/install.sh "$APP_DIR/"
  chmod +x "$APP_DIR/install.sh"
  mkdir -p "$APP_DIR/icons"
  cp assets/icons/outthink-256.png assets/icons/outthink-512.png "$APP_DIR/icons/"
fi

echo "Wheel: $WHEEL ($(du -h "$WHEEL" | cut -f1))"
echo "App:   $APP_DIR/ ($(du -sh "$APP_DIR" | cut -f1))"
if [ -d "$DIST/Outthink.app" ]; then
  echo "       $DIST/Outthink.app/ ($(du -sh "$DIST/Outthink.app" | cut -f1))"
fi
echo "Built in $(( $(date +%s) - started )) s. Check it: bash packaging/check_package.sh"
