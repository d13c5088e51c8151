#!/usr/bin/env bash
# The official postgres image's entrypoint contract, for Debian's PostgreSQL:
# - started as root, it makes PGDATA the postgres user's and runs itself again as that user;
# - on an empty PGDATA it runs initdb with POSTGRES_USER/POSTGRES_PASSWORD (POSTGRES_INITDB_ARGS
#   added), allows remote logins with a password (scram-sha-256, or POSTGRES_HOST_AUTH_METHOD),
#   creates POSTGRES_DB, and runs /docker-entrypoint-initdb.d/*.sh, *.sql and *.sql.gz once, in
#   name order, against a server listening on its socket only;
# - then execs postgres (PID 1 gets the stop signal), listening on all addresses.
# Not supported: the *_FILE variants and POSTGRES_INITDB_WALDIR.
set -Eeuo pipefail

if [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi
# As the official image: anything but the server, or the server asked for its help or version,
# runs as given, with no initialisation.
if [ "$1" != postgres ]; then
  exec "$@"
fi
for arg in "${@:2}"; do
  case $arg in
    -'?' | --help | --describe-config | -V | --version) exec "$@" ;;
  esac
done

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo 'Database is uninitialized and superuser password is not specified.' >&2
    echo 'Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, which allows anyone in).' >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments, as the official image takes it
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
    --auth-host="$POSTGRES_HOST_AUTH_METHOD" --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # Socket only while initialising: a client over TCP (compose's healthcheck) sees no server yet.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  psql_init=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql_init[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case $f in
      *.sh)
        echo "$0: running $f"
        if [ -x "$f" ]; then "$f"; else
          # shellcheck disable=SC1090 # the init scripts are the user's
          . "$f"
        fi
        ;;
      *.sql)
        echo "$0: running $f"
        "${psql_init[@]}" --dbname "$POSTGRES_DB" -f "$f"
        ;;
      *.sql.gz)
        echo "$0: running $f"
        gunzip -c "$f" | "${psql_init[@]}" --dbname "$POSTGRES_DB"
        ;;
      *) if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo 'PostgreSQL init process complete; ready for start up.'
fi

exec "$@"
