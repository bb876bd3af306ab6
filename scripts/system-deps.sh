#!/usr/bin/env bash
# Install the Debian/Ubuntu packages linetrace needs, or print the exact command to run.
#   scripts/system-deps.sh          what the demo needs (python3-venv, mosquitto, libzbar0)
#   scripts/system-deps.sh --test   also what the test suite needs (chromium, postgresql)
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
{ /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | grep -q 'libzbar\.so\.0' || missing+=(libzbar0)
if [ "$want_test" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "linetrace needs these system packages: ${missing[*]}" >&2
    echo "run:  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "linetrace needs: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
    exit 1
fi
echo "installing system packages: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
