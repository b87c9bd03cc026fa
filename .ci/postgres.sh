#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the store tests and print its URL.
# Installs Debian's postgresql package first when the machine does not have it.
set -euo pipefail
PORT=${LEADSCORE_PG_PORT:-55432}
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "installing PostgreSQL (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=$(mktemp -d /tmp/leadscore-pg.XXXXXX)
chown postgres "$PGDATA"
su postgres -s /bin/bash -c "$PGBIN/initdb -D $PGDATA -A trust -U postgres" >/dev/null
su postgres -s /bin/bash -c "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w \
  -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' start" >&2
echo "$PGDATA" > /tmp/leadscore-pg.datadir
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
