#!/usr/bin/env bash
# Run the TAXII 2.1 conformance suite against the OASIS reference server
# medallion 3.0.0 (memory backend), started on 127.0.0.1 at a free port with a
# throw-away config/data file: one API root, one empty read/write collection,
# user admin / Password0.
#
#   usage: bash conformance/taxii/run-medallion.sh PYTHON [extra pytest args...]
#
# PYTHON is the venv python printed by venv.sh.  Exits with pytest's exit code.
set -uo pipefail

if [ "$#" -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: bash $0 PYTHON [pytest args...]   (PYTHON = venv python from venv.sh)" >&2
  exit 2
fi
py="$1"
shift

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/taxii-medallion.XXXXXX")"
medallion_pid=""

cleanup() {
  if [ -n "$medallion_pid" ] && kill -0 "$medallion_pid" 2>/dev/null; then
    kill "$medallion_pid" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$medallion_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$medallion_pid" 2>/dev/null
    wait "$medallion_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"

# Config + data file.  medallion's sample data hard-codes localhost:5000, so the
# data file is generated here with this run's port and a fresh collection id.
"$py" - "$port" "$work" <<'PYEOF'
import json, sys, uuid

port, work = int(sys.argv[1]), sys.argv[2]
base = "http://127.0.0.1:%d" % port
api_root = base + "/api1/"
data = {
    "/discovery": {
        "title": "medallion (TAXII conformance run)",
        "description": "Throw-away medallion instance for the gsomia TAXII 2.1 conformance suite",
        "contact": "nobody@example.invalid",
        "default": api_root,
        "api_roots": [api_root],
    },
    "api1": {
        "information": {
            "title": "API root 1",
            "description": "conformance API root",
            "versions": ["application/taxii+json;version=2.1"],
            "max_content_length": 1048576,
        },
        "status": [],
        "collections": [
            {
                "id": str(uuid.uuid4()),
                "title": "conformance read/write collection",
                "description": "empty at start",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }
        ],
    },
}
with open(work + "/data.json", "w") as f:
    json.dump(data, f, indent=2)
config = {
    "backend": {
        "module": "medallion.backends.memory_backend",
        "module_class": "MemoryBackend",
        "filename": work + "/data.json",
    },
    "users": {"admin": "Password0"},
    "taxii": {"max_page_size": 100},
}
with open(work + "/config.json", "w") as f:
    json.dump(config, f, indent=2)
PYEOF

"$py" -m medallion.scripts.run --host 127.0.0.1 --port "$port" --log-level WARN \
  "$work/config.json" >"$work/medallion.log" 2>&1 &
medallion_pid=$!

discovery="http://127.0.0.1:$port/taxii2/"

# Wait (bounded: 30 s) until the discovery endpoint answers.
if ! "$py" - "$discovery" "$medallion_pid" <<'PYEOF'
import os, sys, time
import requests

url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("medallion exited before answering")
    try:
        r = requests.get(url, auth=("admin", "Password0"),
                         headers={"Accept": "application/taxii+json;version=2.1"}, timeout=2)
        if r.status_code == 200:
            sys.exit(0)
    except requests.RequestException:
        pass
    time.sleep(0.2)
sys.exit("medallion did not answer within 30 s")
PYEOF
then
  echo "---- medallion log ----" >&2
  cat "$work/medallion.log" >&2
  exit 1
fi

echo "medallion 3.0.0 is up at $discovery" >&2

TAXII_DISCOVERY="$discovery" \
TAXII_USER=admin \
TAXII_PASSWORD=Password0 \
TAXII_SERVER=medallion \
PYTHONDONTWRITEBYTECODE=1 \
  "$py" -m pytest "$here/test_taxii.py" -c "$here/pytest.ini" --rootdir "$here" "$@"
rc=$?

if [ "$rc" -ne 0 ]; then
  echo "---- medallion log (tail) ----" >&2
  tail -n 40 "$work/medallion.log" >&2
fi
exit "$rc"
