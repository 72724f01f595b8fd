#!/usr/bin/env bash
# Stop the test OpenStack that tests/openstack/up.sh started: exactly the processes whose pids it
# recorded (each in its own session, so its workers go with it), nothing else. Idempotent.
set -uo pipefail
state="${BRIDGE_OS_STATE:-$HOME/.cache/bridge-openstack}"
pids="$state/pids"
[ -d "$pids" ] || exit 0
rm -f "$state/up.ok"
for f in "$pids"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    # Each was started by setsid: its process group id is its pid.
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    fi
done
for _ in $(seq 1 40); do
    left=0
    for f in "$pids"/*.pid; do
        [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=1
    done
    [ "$left" = 0 ] && break
    sleep 0.25
done
for f in "$pids"/*.pid; do
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    rm -f "$f"
done
echo "openstack-down: stopped" >&2
