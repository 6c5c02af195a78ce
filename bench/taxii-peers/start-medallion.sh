#!/usr/bin/env bash
# Usage: start-medallion.sh PYTHON PORT WORKDIR
#
# Starts medallion 3.0.0 (OASIS TAXII 2.1 reference server, memory backend)
# on 127.0.0.1:PORT with fresh storage in WORKDIR:
#   WORKDIR/data.json    discovery + API root "bench" + ONE empty collection
#   WORKDIR/config.json  backend/users/taxii config
#   WORKDIR/pid, WORKDIR/log
# Waits (<= 60 s, env READY_TIMEOUT) until discovery answers, then prints one
# JSON line on stdout:
#   {"server":"medallion","pid":..,"discovery":"http://127.0.0.1:PORT/taxii2/",
#    "api_root":"http://127.0.0.1:PORT/bench/","collection":"<uuid>",
#    "user":"admin","password":"Password0","auth":"basic"}
# Stop it with: kill "$(cat WORKDIR/pid)"
set -euo pipefail
PROG=start-medallion.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

parse_args "$@"
check_not_running
check_port_free

USER_NAME=admin
PASSWORD=Password0
API_ROOT=bench
BASE="http://127.0.0.1:$PORT"

"$PY" -c 'import medallion, sys; sys.exit(0 if medallion.__version__ == "3.0.0" else 1)' 2>/dev/null \
    || die "medallion 3.0.0 is not importable by $PY (run venv.sh first)"

# fresh storage: only our own files
rm -f "$WORKDIR/data.json" "$WORKDIR/config.json" "$WORKDIR/pid" "$WORKDIR/log"

COLLECTION=$("$PY" - "$WORKDIR" "$BASE" "$API_ROOT" "$USER_NAME" "$PASSWORD" <<'PYEOF'
import json, sys, uuid
workdir, base, root, user, password = sys.argv[1:6]
coll = str(uuid.uuid4())
data = {
    "/discovery": {
        "title": "medallion peer (gsomia bench)",
        "description": "medallion 3.0.0 memory backend, one empty collection",
        "default": f"{base}/{root}/",
        "api_roots": [f"{base}/{root}/"],
    },
    root: {
        "information": {
            "title": "bench API root",
            "description": "API root for the gsomia side-by-side benchmark",
            "versions": ["application/taxii+json;version=2.1"],
            "max_content_length": 104857600,
        },
        "status": [],
        "collections": [
            {
                "id": coll,
                "title": "bench",
                "description": "empty collection, read/write",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }
        ],
    },
}
with open(f"{workdir}/data.json", "w") as f:
    json.dump(data, f, indent=2)
config = {
    "backend": {
        "module": "medallion.backends.memory_backend",
        "module_class": "MemoryBackend",
        "filename": f"{workdir}/data.json",
    },
    "users": {user: password},
    "taxii": {"max_page_size": 100},
}
with open(f"{workdir}/config.json", "w") as f:
    json.dump(config, f, indent=2)
print(coll)
PYEOF
)

# medallion's own CLI (Flask/Werkzeug threaded server, single process: the
# memory backend cannot be shared between processes).
start_bg "$PY" -m medallion.scripts.run --host 127.0.0.1 --port "$PORT" \
    --log-level WARN "$WORKDIR/config.json"

wait_ready "$BASE/taxii2/" "$USER_NAME" "$PASSWORD" \
    || fail_with_log "medallion did not come up on $BASE"

"$PY" - "$SERVER_PID" "$BASE" "$API_ROOT" "$COLLECTION" "$USER_NAME" "$PASSWORD" <<'PYEOF'
import json, sys
pid, base, root, coll, user, password = sys.argv[1:7]
print(json.dumps({
    "server": "medallion",
    "pid": int(pid),
    "discovery": f"{base}/taxii2/",
    "api_root": f"{base}/{root}/",
    "collection": coll,
    "user": user,
    "password": password,
    "auth": "basic",
}))
PYEOF
