#!/usr/bin/env bash
# Create (or reuse) a Python venv holding the TAXII conformance suite's pinned
# dependencies.
#
#   usage: bash conformance/taxii/venv.sh DIR
#
# Needs only python3 (with the venv module) and access to PyPI.  The venv is
# rebuilt only when DIR/.ok-<sha256 of requirements.txt> is missing, so a
# second call is a no-op.  The last line printed on stdout is the absolute path
# of DIR/bin/python; pip's output goes to stderr, so
#   PY=$(bash conformance/taxii/venv.sh /tmp/taxii-venv)
# works.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: bash $0 DIR" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
dir="$1"

sum="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$req")"
marker=".ok-$sum"

if [ ! -f "$dir/$marker" ]; then
  if [ -e "$dir" ] && [ ! -f "$dir/pyvenv.cfg" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    echo "venv.sh: $dir exists, is not empty and is not a venv; refusing to touch it" >&2
    exit 1
  fi
  if [ ! -x "$dir/bin/python" ]; then
    echo "venv.sh: creating venv in $dir" >&2
    python3 -m venv "$dir" >&2
  fi
  echo "venv.sh: installing $req" >&2
  "$dir/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" >&2
  # the pinned set must be consistent
  "$dir/bin/python" -m pip check >&2
  rm -f "$dir"/.ok-*
  : > "$dir/$marker"
fi

abs="$(cd "$dir" && pwd)"
echo "$abs/bin/python"
