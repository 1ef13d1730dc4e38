#!/usr/bin/env bash
# Put Mono's .NET 2.0/3.5 reference assemblies (Debian package mono-devel, folders
# usr/lib/mono/2.0-api and 3.5-api) into a cache folder, without installing Mono:
# `apt-get download` + `dpkg-deb -x`. Used by .ci/run and by the API surface test.
#
#   tests/agent/fetch_mono_api.sh [FOLDER]
#
# FOLDER defaults to $FLEETCHECK_MONO_API, else ${XDG_CACHE_HOME:-~/.cache}/fleetcheck-test/mono-2.0-api.
# Exit 0 when the assemblies are there (already or now), non-zero with a reason otherwise.
set -euo pipefail

target="${1:-${FLEETCHECK_MONO_API:-${XDG_CACHE_HOME:-$HOME/.cache}/fleetcheck-test/mono-2.0-api}}"
if [ -f "$target/usr/lib/mono/2.0-api/mscorlib.dll" ] && [ -f "$target/usr/lib/mono/2.0-api/System.dll" ]; then
    exit 0
fi
for tool in apt-get dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "fetch_mono_api: $tool not available" >&2
        exit 3
    fi
done

mkdir -p "$(dirname "$target")"
work="$(mktemp -d "$(dirname "$target")/.mono-api.XXXXXX")"
trap 'rm -rf "$work"' EXIT

download() { (cd "$work" && timeout 120 apt-get download -qq mono-devel) >/dev/null 2>"$work/err"; }
if ! download; then
    # No or stale package lists: refresh them once (needs root), then try again.
    if [ "$(id -u)" = "0" ]; then
        timeout 120 apt-get update -qq >/dev/null 2>>"$work/err" || true
    fi
    if ! download; then
        echo "fetch_mono_api: apt-get download mono-devel failed: $(tail -c 300 "$work/err")" >&2
        exit 4
    fi
fi
deb="$(ls "$work"/mono-devel_*.deb | head -n 1)"
dpkg-deb -x "$deb" "$work/x"
if [ ! -f "$work/x/usr/lib/mono/2.0-api/mscorlib.dll" ]; then
    echo "fetch_mono_api: $deb has no usr/lib/mono/2.0-api/mscorlib.dll" >&2
    exit 5
fi
staging="$work/out"
mkdir -p "$staging/usr/lib/mono"
for folder in 2.0-api 3.5-api; do
    if [ -d "$work/x/usr/lib/mono/$folder" ]; then
        cp -a "$work/x/usr/lib/mono/$folder" "$staging/usr/lib/mono/"
    fi
done
basename "$deb" >"$staging/SOURCE"
rm -rf "$target"
mv "$staging" "$target"
