#!/usr/bin/env bash
# Put Outthink in your desktop's application menu, for you only (no root needed): a launcher
# entry, its icon, and an `outthink` command in ~/.local/bin. Run it from the unpacked app
# folder, and again after moving the folder. `./install.sh --uninstall` removes those three
# things (the app folder and your models stay).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
BIN=$HOME/.local/bin
ENTRY=$DATA/applications/outthink.desktop
SIZES="256 512"

refresh() {  # some menus notice a new entry sooner; harmless where the tool is missing
  if command -v update-desktop-database >/dev/null; then
    update-desktop-database -q "$DATA/applications" || true
  fi
}

if [ "${1:-}" = --uninstall ]; then
  rm -f "$ENTRY"
  for size in $SIZES; do rm -f "$DATA/icons/hicolor/${size}x${size}/apps/outthink.png"; done
  if [ -L "$BIN/outthink" ]; then rm -f "$BIN/outthink"; fi
  refresh
  echo "Removed the Outthink launcher, icon and command."
  exit 0
fi

if [ ! -x "$HERE/outthink" ]; then
  echo "install.sh: no outthink executable next to this script; run the copy in the app folder." >&2
  exit 1
fi
case "$HERE" in
  *[\"\`\$\\]*) echo "install.sh: move the app to a folder without \" \` \$ or \\ in its path." >&2; exit 1 ;;
esac
mkdir -p "$DATA/applications" "$BIN"
for size in $SIZES; do
  mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps"
  cp "$HERE/icons/outthink-$size.png" "$DATA/icons/hicolor/${size}x${size}/apps/outthink.png"
done
# The entry needs the absolute path: the folder is wherever the user unpacked it. Quoted, so a
# path with spaces works (the case above refused the characters that would need escaping).
sed -e "s|^TryExec=.*|TryExec=$HERE/outthink|" -e "s|^Exec=.*|Exec=\"$HERE/outthink\"|" \
  "$HERE/outthink.desktop" >"$ENTRY"
ln -sfn "$HERE/outthink" "$BIN/outthink"
refresh
echo "Outthink is in your application menu; \`outthink\` starts it from a terminal too."
case ":$PATH:" in *":$BIN:"*) ;; *) echo "(Add $BIN to your PATH for the command.)" ;; esac
