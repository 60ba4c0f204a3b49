#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the store tests.
# stdout: exactly one line, `export LOCKERS_TEST_POSTGRES_URL=postgresql+psycopg://...`, for
#   eval "$(scripts/ci/start-postgres.sh)"
# Everything else goes to stderr. Installs PostgreSQL from Debian if absent; runs the server as
# the unprivileged `postgres` user when started as root. Stop it with:
#   pg_ctl -D "$LOCKERS_TEST_PG_DIR/data" stop   (the directory is printed on stderr)
set -euo pipefail
exec 3>&1 1>&2

find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/$name" ]; then echo "$dir/$name"; return 0; fi
  done
  return 1
}

if ! find_bin initdb >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "start-postgres: PostgreSQL is not installed and we are not root; run: sudo apt-get install postgresql" >&2
    exit 1
  fi
  echo "start-postgres: installing PostgreSQL from Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
fi
INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)
CREATEDB=$(find_bin createdb)

# A free TCP port on 127.0.0.1 (the kernel picks it; the tiny race is fine for CI).
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=$(mktemp -d "${TMPDIR:-/tmp}/lockers-pg.XXXXXX")
chmod 755 "$BASE"
DATA="$BASE/data"
USER_NAME=$(id -un)

# Runs a command as the server's user. The server must not inherit fd 3 (our real stdout),
# or the $(...) around this script would wait for it forever.
as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then
    # PostgreSQL refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /bin/sh postgres
    chown -R postgres "$BASE"
    su postgres -s /bin/sh -c "$*" 3>&-
  else
    sh -c "$*" 3>&-
  fi
}
if [ "$(id -u)" -eq 0 ]; then USER_NAME=postgres; fi

as_server_user "'$INITDB' -D '$DATA' -U '$USER_NAME' --auth=trust --encoding=UTF8 --no-locale -N" >&2
as_server_user "'$PG_CTL' -D '$DATA' -l '$BASE/server.log' -w -t 60 \
  -o \"-c listen_addresses=127.0.0.1 -p $PORT -k '$BASE' -c fsync=off -c max_connections=100\" start" >&2
as_server_user "'$CREATEDB' -h 127.0.0.1 -p $PORT -U '$USER_NAME' lockers_test" >&2

echo "start-postgres: server in $BASE on 127.0.0.1:$PORT (stop: $PG_CTL -D $DATA stop)" >&2
echo "export LOCKERS_TEST_POSTGRES_URL=postgresql+psycopg://$USER_NAME@127.0.0.1:$PORT/lockers_test LOCKERS_TEST_PG_DIR=$BASE" >&3
