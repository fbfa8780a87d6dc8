#!/bin/sh
# Remove what install.sh installed for this user, exactly: the files and links listed in
# ~/.local/lib/ember/install-manifest.txt, then ~/.local/lib/ember itself.
# Ember's data folder (your memories: ~/.local/share/ember, or $EMBER_HOME) and its cache
# (~/.cache/ember) are never removed; delete them by hand if you want them gone.
set -eu

lib="$HOME/.local/lib/ember"
manifest="$lib/install-manifest.txt"

fail() { printf 'uninstall.sh: %s\n' "$*" >&2; exit 1; }

[ -f "$manifest" ] || fail "Ember is not installed in $lib (no $manifest)"

# Refuse when the data folder would go with the bundle (an EMBER_HOME inside it).
data="${EMBER_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/ember}"
case "$data/" in
  "$lib/"*) fail "Ember's data folder $data is inside $lib; move it first" ;;
esac

while IFS=' ' read -r kind path; do
  case "$path" in
    "$HOME"/*) ;;
    *) fail "the manifest names $path, outside $HOME: not removing anything more" ;;
  esac
  case "$kind" in
    link)
      # Only a link that still points into the bundle: anything else is not ours now.
      if [ -L "$path" ]; then
        case "$(readlink "$path")" in "$lib"/*) rm -f "$path" ;; esac
      fi
      ;;
    file) rm -f "$path" ;;
    *) fail "unknown manifest line: $kind $path" ;;
  esac
done <"$manifest"

rm -rf "$lib"
share="${XDG_DATA_HOME:-$HOME/.local/share}"
if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$share/applications" 2>/dev/null || true
fi
printf 'Ember is uninstalled. Your data stays in %s.\n' "$data"
