#!/bin/sh
# Install Ember for the current user, from the unpacked archive:
#   ~/.local/lib/ember/                    the bundle (Python, Qt, llama.cpp, torch, models)
#   ~/.local/bin/ember, ember-gui          links to it (on the PATH of most desktops)
#   $XDG_DATA_HOME/applications/io.github.ember.Ember.desktop, the icon (hicolor) and the
#   AppStream metadata (metainfo), $XDG_DATA_HOME defaulting to ~/.local/share.
# What it installed is listed in ~/.local/lib/ember/install-manifest.txt, which uninstall.sh
# reads. Ember's data (your memories, ~/.local/share/ember) is never touched: a checkout
# install and this one use the same folder. Installing again replaces the previous install.
set -eu
umask 022

here=$(cd "$(dirname "$0")" && pwd)
lib="$HOME/.local/lib/ember"
bin="$HOME/.local/bin"
share="${XDG_DATA_HOME:-$HOME/.local/share}"
app_id="io.github.ember.Ember"

say() { printf '%s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ] || fail "this build is for Linux on x86-64"
[ -x "$here/ember/ember" ] || fail "no bundle beside this script ($here/ember)"
case "$lib$share" in
  *'"'* | *'`'* | *'$'* | *'\'* | *'|'* | *'&'*)
    fail "cannot install under a path holding any of: \" \` \$ \\ | &" ;;
esac

# Links and files that exist and are not ours are not overwritten.
for name in ember ember-gui; do
  link="$bin/$name"
  if [ -e "$link" ] || [ -L "$link" ]; then
    target=$(readlink "$link" || true)
    [ "$target" = "$lib/$name" ] || fail "$link exists and is not Ember's install; move it away first"
  fi
done

# The llama.cpp build for this CPU is chosen (and tested in a child process) before
# anything is copied: a CPU Ember cannot run on stops the install here.
"$here/ember/ember" --choose-cpu-build >/dev/null || fail "Ember cannot run on this computer"

mkdir -p "$HOME/.local/lib" "$bin"
new="$lib.new.$$"
old="$lib.old.$$"
rm -rf "$new"
cp -R -P "$here/ember" "$new"
chmod -R go-w "$new"
if [ -d "$lib" ]; then mv "$lib" "$old"; fi
mv "$new" "$lib"
rm -rf "$old"

ln -sfn "$lib/ember" "$bin/ember"
ln -sfn "$lib/ember-gui" "$bin/ember-gui"

desktop="$share/applications/$app_id.desktop"
icon="$share/icons/hicolor/scalable/apps/$app_id.svg"
metainfo="$share/metainfo/$app_id.metainfo.xml"
mkdir -p "$(dirname "$desktop")" "$(dirname "$icon")" "$(dirname "$metainfo")"
# The desktop starts the bundle by its full path: a session's PATH may lack ~/.local/bin.
sed -e "s|^Exec=ember-gui|Exec=\"$lib/ember-gui\"|" \
  -e "/^Exec=/a TryExec=$lib/ember-gui" \
  "$here/share/$app_id.desktop" >"$desktop"
cp "$here/share/$app_id.svg" "$icon"
cp "$here/share/$app_id.metainfo.xml" "$metainfo"
chmod 644 "$desktop" "$icon" "$metainfo"

{
  say "link $bin/ember"
  say "link $bin/ember-gui"
  say "file $desktop"
  say "file $icon"
  say "file $metainfo"
} >"$lib/install-manifest.txt"
chmod 644 "$lib/install-manifest.txt"

if command -v update-desktop-database >/dev/null 2>&1; then
  update-desktop-database -q "$share/applications" 2>/dev/null || true
fi

say "Ember is installed in $lib ($(du -sh "$lib" | cut -f1))."
say "Start it from your applications menu, or run: ember   (ember --help for the commands)"
case ":${PATH:-}:" in
  *":$bin:"*) ;;
  *) say "Note: $bin is not on your PATH; add it, or run $bin/ember" ;;
esac
say "To remove it: $lib/uninstall.sh (your memories in ~/.local/share/ember stay)."
