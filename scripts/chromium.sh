#!/usr/bin/env bash
# Makes sure a Chromium (or Chrome) browser is on PATH for the inspector's
# browser test (sync/hub/inspector/browsertest) and prints its path. When
# none of chromium, chromium-browser, google-chrome is found, installs the
# distribution's chromium package with apt-get (run as root, as CI does).
set -euo pipefail

ferry_browser() {
	local b
	for b in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$b" >/dev/null 2>&1; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

if path=$(ferry_browser); then
	echo "$path"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "chromium: no browser on PATH and no apt-get to install one" >&2
	exit 1
fi
echo "chromium: installing the chromium package" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
if ! path=$(ferry_browser); then
	echo "chromium: installed, yet no browser on PATH" >&2
	exit 1
fi
echo "$path"
