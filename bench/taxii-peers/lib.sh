# Shared helpers for start-medallion.sh and start-opentaxii.sh (sourced).
# shellcheck shell=bash

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

# parse_args PYTHON PORT WORKDIR -> sets PY, PORT, WORKDIR (absolute)
parse_args() {
    if [ $# -ne 3 ]; then
        echo "usage: $PROG PYTHON PORT WORKDIR" >&2
        exit 2
    fi
    PY=$1
    PORT=$2
    command -v "$PY" >/dev/null 2>&1 || die "PYTHON '$PY' is not executable"
    PY=$(command -v "$PY")
    case "$PORT" in
        '' | *[!0-9]*) die "PORT must be a number, got '$PORT'" ;;
    esac
    [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "PORT out of range: $PORT"
    mkdir -p "$3" || die "cannot create WORKDIR $3"
    WORKDIR=$(cd "$3" && pwd)
    case "$WORKDIR" in
        *[[:space:]]*) die "WORKDIR must not contain whitespace: $WORKDIR" ;;
    esac
}

# refuse to clobber a server that a previous run left in WORKDIR
check_not_running() {
    if [ -f "$WORKDIR/pid" ]; then
        local old
        old=$(cat "$WORKDIR/pid" 2>/dev/null || true)
        if [ -n "$old" ] && kill -0 "$old" 2>/dev/null &&
            ! grep -qs '^[0-9]* ([^)]*) Z' "/proc/$old/stat"; then
            die "a server from an earlier run is still alive in $WORKDIR (pid $old); stop it first: kill $old"
        fi
    fi
}

# fail early if something already listens on 127.0.0.1:PORT
check_port_free() {
    "$PY" - "$PORT" <<'PYEOF' || die "127.0.0.1:$PORT is already in use"
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PYEOF
}

# start_bg CMD... : run CMD in its own session, stdout+stderr -> WORKDIR/log,
# its pid -> WORKDIR/pid and $SERVER_PID
start_bg() {
    : >"$WORKDIR/log"
    if command -v setsid >/dev/null 2>&1; then
        # In a non-interactive shell the background child is not a process
        # group leader, so setsid execs in place: $! is the server's pid.
        setsid "$@" >>"$WORKDIR/log" 2>&1 </dev/null &
    else
        nohup "$@" >>"$WORKDIR/log" 2>&1 </dev/null &
    fi
    SERVER_PID=$!
    echo "$SERVER_PID" >"$WORKDIR/pid"
}

# wait_ready URL USER PASSWORD : poll (HTTP Basic) until URL answers 200,
# the server dies, or READY_TIMEOUT (<= 60 s) runs out.
wait_ready() {
    local timeout=${READY_TIMEOUT:-60}
    [ "$timeout" -le 60 ] 2>/dev/null || timeout=60
    "$PY" - "$1" "$2" "$3" "$timeout" "$SERVER_PID" <<'PYEOF'
import base64, os, sys, time, urllib.request, urllib.error
url, user, pw, timeout, pid = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
deadline = time.monotonic() + timeout
last = "no answer"
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        print(f"server process {pid} exited before answering", file=sys.stderr)
        sys.exit(1)
    req = urllib.request.Request(url, headers={
        "Accept": "application/taxii+json;version=2.1", "Authorization": auth})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
            last = f"HTTP {r.status}"
    except urllib.error.HTTPError as e:
        last = f"HTTP {e.code}"
    except Exception as e:  # connection refused while booting, etc.
        last = repr(e)
    time.sleep(0.2)
print(f"{url} not ready after {timeout:.0f}s (last: {last})", file=sys.stderr)
sys.exit(1)
PYEOF
}

# fail_with_log MSG : kill the server we started, show the log tail, exit 1
fail_with_log() {
    echo "$PROG: error: $*" >&2
    if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        echo "$PROG: stopped server pid $SERVER_PID" >&2
    fi
    echo "---- last lines of $WORKDIR/log ----" >&2
    tail -n 30 "$WORKDIR/log" >&2 || true
    exit 1
}
