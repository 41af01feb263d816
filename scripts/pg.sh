#!/usr/bin/env bash
# Starts (or stops) throwaway PostgreSQL 15 servers for the tests, on free loopback ports, in .tmp/pg.
#   scripts/pg.sh start   → prints the main port (a free one unless PR_PG_PORT is set)
#   scripts/pg.sh stop    → stops every server it started
#   scripts/pg.sh resume  → starts the servers a previous `start` made, with their data, roles and
#                           passwords (exit 3: there are none; exit 4: the main port is taken now)
# PR_PG_DIR moves everything out of .tmp/pg (the demo keeps its own in .tmp/demo/pg), and
# PR_PG_ONLY_MAIN=1 makes the main server only (a third of the start-up work).
# Three servers, created and started in parallel so start-up stays short:
#   main        PR_PG_PORT: database `app` with table `accounts`, role pr_reader (SELECT only),
#               role pr_writer (can write) and role pr_repairer (SELECT, and UPDATE of the
#               mapped columns only). `ssl = on` with a certificate for 127.0.0.1 and
#               localhost signed by a private CA (PR_PG_CA_FILE); plain connections work too.
#               It also listens on 127.0.0.2, a name its certificate does not carry.
#   notls       PR_PG_NOTLS_PORT: `ssl = off`, so it answers 'N' to an SSLRequest.
#   selfsigned  PR_PG_SELFSIGNED_PORT: `ssl = on` with a self-signed certificate (same names).
# notls and selfsigned have no pr_* roles: TLS is settled before authentication, so their URLs
# carry the reader's credentials only to have the same shape.
# Passwords are generated per start and written to .tmp/pg/env (mode 600) for the test runners.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
DIR="${PR_PG_DIR:-$PR_ROOT/.tmp/pg}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
CLUSTERS=(data data-notls data-selfsigned)
[ "${PR_PG_ONLY_MAIN:-}" = 1 ] && CLUSTERS=(data)

# Private CA, a server certificate it signs, and a self-signed one, all for the loopback names.
make_certs() {
  local t="$DIR/tls" names="IP:127.0.0.1,DNS:localhost" ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  mkdir -p "$t"
  openssl req -x509 "${ec[@]}" -keyout "$t/ca.key" -out "$t/ca.crt" -days 7 -subj "/CN=ParityRail test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new "${ec[@]}" -keyout "$t/server.key" -out "$t/server.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "$names" > "$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial -days 7 \
    -extfile "$t/server.ext" -out "$t/server.crt" 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout "$t/selfsigned.key" -out "$t/selfsigned.crt" -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=$names" 2>/dev/null
  rm -f "$t/server.csr" "$t/server.ext" "$t/ca.srl"
  chmod 600 "$t"/*.key
  [ "$(id -u)" = 0 ] && chown -R postgres: "$t"
  return 0
}

# configure <cluster> <port> <ssl settings>
configure() {
  cat >> "$DIR/$1/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1,127.0.0.2'
port = $2
unix_socket_directories = '$DIR'
# The socket's peers are trusted as the postgres superuser (pg_hba below): nobody else may
# connect to it.
unix_socket_permissions = 0700
fsync = off
$3
CONF
  echo "local all postgres trust" > "$DIR/$1/pg_hba.conf"
  echo "host all all 127.0.0.0/8 scram-sha-256" >> "$DIR/$1/pg_hba.conf"
}

case "${1:-}" in
  start)
    [ -x "$BIN/postgres" ] || { echo "PostgreSQL is not installed (scripts/tools.sh installs it)" >&2; exit 1; }
    "$0" stop >/dev/null 2>&1 || true
    rm -rf "$DIR" && mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    PORT="${PR_PG_PORT:-$(free_port)}"
    NOTLS_PORT="${PR_PG_NOTLS_PORT:-$(free_port)}"
    SELF_PORT="${PR_PG_SELFSIGNED_PORT:-$(free_port)}"
    make_certs & certs=$!
    (umask 077; openssl rand -hex 16 > "$DIR/pwfile")
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR/pwfile"
    # One initdb per server, in parallel: faster here than copying a cluster.
    pids=()
    for c in "${CLUSTERS[@]}"; do
      as_pg "$BIN/initdb" -D "$DIR/$c" -U postgres --auth=scram-sha-256 --pwfile="$DIR/pwfile" \
        --no-sync --wal-segsize=1 >/dev/null & pids+=($!)
    done
    for p in "${pids[@]}" "$certs"; do wait "$p"; done
    rm -f "$DIR/pwfile"
    configure data "$PORT" "ssl = on
ssl_cert_file = '$DIR/tls/server.crt'
ssl_key_file = '$DIR/tls/server.key'"
    small="shared_buffers = 1MB
max_connections = 10
max_wal_senders = 0"
    [ -d "$DIR/data-notls" ] && configure data-notls "$NOTLS_PORT" "ssl = off
$small"
    [ -d "$DIR/data-selfsigned" ] && configure data-selfsigned "$SELF_PORT" "$small
ssl = on
ssl_cert_file = '$DIR/tls/selfsigned.crt'
ssl_key_file = '$DIR/tls/selfsigned.key'"
    pids=()
    for c in "${CLUSTERS[@]}"; do
      as_pg "$BIN/pg_ctl" -D "$DIR/$c" -l "$DIR/$c.log" -w start >/dev/null & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    READER_PW="$(openssl rand -hex 16)"; WRITER_PW="$(openssl rand -hex 16)"; REPAIRER_PW="$(openssl rand -hex 16)"
    as_pg psql -h "$DIR" -p "$PORT" -U postgres -q -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE pr_reader LOGIN PASSWORD '$READER_PW';
CREATE ROLE pr_writer LOGIN PASSWORD '$WRITER_PW';
CREATE ROLE pr_repairer LOGIN PASSWORD '$REPAIRER_PW';
-- The repair tests end a repair session mid-transaction (pg_terminate_backend).
GRANT pg_signal_backend TO pr_writer;
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
-- A repair role as the README advises: read, and update only the mapped columns.
GRANT SELECT, UPDATE (plan, is_premium, on_trial, feature_sso) ON accounts TO pr_repairer;
-- Tables tests and benchmarks create for themselves, readable by the reader.
CREATE SCHEMA scratch AUTHORIZATION pr_writer;
GRANT USAGE ON SCHEMA scratch TO pr_reader, pr_repairer;
ALTER DEFAULT PRIVILEGES FOR ROLE pr_writer IN SCHEMA scratch GRANT SELECT ON TABLES TO pr_reader;
SQL
    umask 077
    READER="pr_reader:$READER_PW"
    cat > "$DIR/env" <<ENV
PR_PG_PORT=$PORT
PR_PG_READER_URL=postgres://$READER@127.0.0.1:$PORT/app?sslmode=disable
PR_PG_WRITER_URL=postgres://pr_writer:$WRITER_PW@127.0.0.1:$PORT/app?sslmode=disable
PR_PG_REPAIRER_URL=postgres://pr_repairer:$REPAIRER_PW@127.0.0.1:$PORT/app?sslmode=disable
PR_PG_ADMIN="psql -h $DIR -p $PORT -U postgres -d app"
PR_PG_CA_FILE=$DIR/tls/ca.crt
PR_PG_SELFSIGNED_CERT_FILE=$DIR/tls/selfsigned.crt
PR_PG_TLS_PORT=$PORT
PR_PG_TLS_READER_URL=postgres://$READER@127.0.0.1:$PORT/app?sslmode=require
PR_PG_TLS_WRITER_URL=postgres://pr_writer:$WRITER_PW@127.0.0.1:$PORT/app?sslmode=require
PR_PG_TLS_REPAIRER_URL=postgres://pr_repairer:$REPAIRER_PW@127.0.0.1:$PORT/app?sslmode=require
PR_PG_TLS_MISMATCH_URL=postgres://$READER@127.0.0.2:$PORT/app?sslmode=require
PR_PG_NOTLS_PORT=$NOTLS_PORT
PR_PG_NOTLS_URL=postgres://$READER@127.0.0.1:$NOTLS_PORT/app?sslmode=require
PR_PG_SELFSIGNED_PORT=$SELF_PORT
PR_PG_SELFSIGNED_URL=postgres://$READER@127.0.0.1:$SELF_PORT/app?sslmode=require
ENV
    echo "$PORT"
    ;;
  resume)
    [ -f "$DIR/env" ] && [ -d "$DIR/data" ] || exit 3
    PORT="$(sed -n 's/^PR_PG_PORT=//p' "$DIR/env")"
    # (SO_REUSEADDR as servers bind: a port in TIME_WAIT from the last stop is free, a listening one not.)
    python3 -c 'import socket,sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()' "$PORT" 2>/dev/null || exit 4
    pids=()
    for c in "${CLUSTERS[@]}"; do
      [ -d "$DIR/$c" ] || continue
      as_pg "$BIN/pg_ctl" -D "$DIR/$c" -l "$DIR/$c.log" -w start >/dev/null & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    echo "$PORT"
    ;;
  stop)
    for c in "${CLUSTERS[@]}"; do
      [ -d "$DIR/$c" ] && as_pg "$BIN/pg_ctl" -D "$DIR/$c" -m immediate stop >/dev/null 2>&1 || true
    done
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
