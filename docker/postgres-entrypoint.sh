#!/bin/sh
# PostgreSQL from Debian's package, as the official postgres image behaves (docker/services.Dockerfile):
# on the first start it makes the cluster in $PGDATA (the volume), with POSTGRES_USER as superuser,
# POSTGRES_PASSWORD as its password and the database POSTGRES_DB; then it runs the server on every
# address of the container, password (SCRAM) authentication over TCP.
set -eu
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
  if [ ! -w "$PGDATA" ]; then
    echo "postgres-entrypoint: $PGDATA is not writable by $(id -un); give the volume to uid $(id -u)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    quoted=$(printf '%s' "$db" | sed 's/"/""/g')
    echo "CREATE DATABASE \"$quoted\";" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "postgres-entrypoint: made the cluster in $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
