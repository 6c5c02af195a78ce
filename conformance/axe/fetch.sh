#!/usr/bin/env bash
# axe-core (Deque's accessibility engine), pinned, for the console's browser test: the tarball
# from the npm registry, checked against its SHA-256, unpacked to DIR/axe.min.js. The script
# runs in the browser under test; nothing of it is installed on the machine.
set -euo pipefail
dir="${1:-target/axe}"
version="4.10.2"
sha256="9ea2d2d6917da998122bdacfd3b473e31ead53f4b87146c716a12edf89158100"
[ -f "$dir/axe-$version.min.js" ] && exit 0
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
curl -sSfL --retry 3 -o "$tmp/axe.tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz"
echo "$sha256  $tmp/axe.tgz" | sha256sum -c --quiet -
tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js
mv "$tmp/package/axe.min.js" "$dir/axe-$version.min.js"
