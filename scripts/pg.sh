#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL 15 for the tests, on a free loopback port, in .tmp/pg.
#   scripts/pg.sh start   → prints the port (a free one unless PR_PG_PORT is set); creates database `app` with table `accounts`,
#                           role pr_reader (SELECT only) and role pr_writer (can write)
#   scripts/pg.sh stop
# Passwords are generated per start and written to .tmp/pg/env (mode 600) for the test runners.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIR="$PR_ROOT/.tmp/pg"
PORT="${PR_PG_PORT:-$(free_port)}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    [ -x "$BIN/postgres" ] || { echo "PostgreSQL is not installed (scripts/tools.sh installs it)" >&2; exit 1; }
    "$0" stop >/dev/null 2>&1 || true
    rm -rf "$DIR" && mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    (umask 077; openssl rand -hex 16 > "$DIR/pwfile")
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/pwfile"
    as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=scram-sha-256 --pwfile="$DIR/pwfile" >/dev/null
    rm -f "$DIR/pwfile"
    cat >> "$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
CONF
    echo "local all postgres trust" > "$DIR/data/pg_hba.conf"
    echo "host all all 127.0.0.1/32 scram-sha-256" >> "$DIR/data/pg_hba.conf"
    as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
    READER_PW="$(openssl rand -hex 16)"; WRITER_PW="$(openssl rand -hex 16)"
    as_pg psql -h "$DIR" -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE pr_reader LOGIN PASSWORD '$READER_PW';
CREATE ROLE pr_writer LOGIN PASSWORD '$WRITER_PW';
CREATE DATABASE app;
\c app
CREATE TABLE accounts (
  id serial PRIMARY KEY,
  stripe_customer_id text UNIQUE,
  plan text NOT NULL DEFAULT 'free',
  is_premium boolean NOT NULL DEFAULT false,
  on_trial boolean NOT NULL DEFAULT false,
  feature_sso boolean NOT NULL DEFAULT false,
  seats integer NOT NULL DEFAULT 1
);
GRANT SELECT ON accounts TO pr_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO pr_writer;
GRANT USAGE ON SEQUENCE accounts_id_seq TO pr_writer;
SQL
    umask 077
    cat > "$DIR/env" <<ENV
PR_PG_PORT=$PORT
PR_PG_READER_URL=postgres://pr_reader:$READER_PW@127.0.0.1:$PORT/app?sslmode=disable
PR_PG_WRITER_URL=postgres://pr_writer:$WRITER_PW@127.0.0.1:$PORT/app?sslmode=disable
PR_PG_ADMIN="psql -h $DIR -p $PORT -U postgres -d app"
ENV
    echo "$PORT"
    ;;
  stop)
    [ -d "$DIR/data" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
