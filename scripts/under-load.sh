#!/usr/bin/env bash
# Run a command with CPU-burning processes beside it, to prove the tests wait on conditions
# and not on timings:  scripts/under-load.sh [-n BURNERS] COMMAND...   (default 2 burners)
set -euo pipefail

burners=2
if [ "${1:-}" = "-n" ]; then
    burners="$2"
    shift 2
fi
[ $# -gt 0 ] || { echo "usage: $0 [-n BURNERS] COMMAND..." >&2; exit 2; }

pids=()
stop_burners() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap stop_burners EXIT
for _ in $(seq "$burners"); do
    python3 -c 'while True: pass' &
    pids+=($!)
done
echo "running with $burners CPU-burning processes beside it: $*" >&2
"$@"
