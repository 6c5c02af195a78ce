#!/usr/bin/env bash
# Usage: venv.sh DIR
#
# Creates (or reuses) a Python virtualenv at DIR holding the exact pins of
# requirements.txt (medallion, OpenTAXII, gunicorn, requests).  Idempotent:
# DIR/.ok-<sha256 of requirements.txt> marks a finished install, and a DIR
# whose marker is missing (new, half-built, or built from an older
# requirements.txt) is rebuilt from scratch.
#
# Everything goes to stderr except the last stdout line: the absolute path of
# DIR/bin/python, ready to pass to start-medallion.sh / start-opentaxii.sh.
#
# Env: PYTHON  interpreter used to create the venv (default: python3, >= 3.8)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/requirements.txt"

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$(dirname "$1")"
dir="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
base_python=${PYTHON:-python3}

sum=$(sha256sum "$req" | cut -c1-64)
marker="$dir/.ok-$sum"

build() {
    if [ -f "$marker" ]; then
        return 0
    fi
    if [ -e "$dir" ]; then
        # Only ever delete something that is recognisably a venv.
        if [ -f "$dir/pyvenv.cfg" ]; then
            echo "venv.sh: $dir is stale or incomplete; rebuilding" >&2
            rm -rf "$dir"
        elif [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then
            :
        else
            echo "venv.sh: $dir exists and is not a virtualenv; refusing to touch it" >&2
            exit 1
        fi
    fi
    echo "venv.sh: creating $dir with $base_python" >&2
    "$base_python" -m venv "$dir" >&2
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-deps --require-virtualenv -r "$req" >&2
    # --no-deps + pip check: fails if requirements.txt stops being complete.
    "$dir/bin/python" -m pip check --disable-pip-version-check >&2
    "$dir/bin/python" -c 'import medallion, opentaxii, gunicorn, requests' >&2
    rm -f "$dir"/.ok-*
    touch "$marker"
    echo "venv.sh: ready" >&2
}

# Serialise concurrent callers on the same DIR.
lock="$dir.lock"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
    build
    flock -u 9
else
    build
fi

echo "$dir/bin/python"
