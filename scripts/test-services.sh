#!/usr/bin/env bash
# Make sure the PostgreSQL the storage tests run on is up and has a `linetrace` role that
# may create throwaway databases. Mosquitto needs nothing here: the tests start their own.
# Prints the URL the tests should use.
set -euo pipefail

host=127.0.0.1
port="${LINETRACE_PG_PORT:-5432}"
role=linetrace
url="postgresql://${role}:${role}@${host}:${port}/postgres"

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}

if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        for version in $(ls /etc/postgresql 2>/dev/null); do
            echo "starting PostgreSQL $version" >&2
            if [ "$(id -u)" = 0 ]; then
                pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            else
                sudo -n pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
            fi
        done
    fi
    for _ in $(seq 1 30); do
        pg_isready -q -h "$host" -p "$port" 2>/dev/null && break
        sleep 1
    done
fi
if ! pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
    echo "PostgreSQL is not reachable on $host:$port; the PostgreSQL tests will skip (fail in CI)" >&2
    echo "$url"
    exit 0
fi

if ! psql "$url" -qtAc 'select 1' >/dev/null 2>&1; then
    sql="DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
    CREATE ROLE ${role} LOGIN CREATEDB PASSWORD '${role}';
  ELSE
    ALTER ROLE ${role} LOGIN CREATEDB PASSWORD '${role}';
  END IF;
END \$\$;"
    psql -h "$host" -p "$port" -U postgres -d postgres -qtAc "$sql" >/dev/null 2>&1 \
        || as_postgres psql -p "$port" -d postgres -qtAc "$sql" >/dev/null
fi
echo "$url"
