#!/bin/sh
# The official redis image's entrypoint: `IMAGE --flag` or `IMAGE file.conf` means redis-server;
# started as root, it gives /data's files to the redis user and runs as that user. The official
# build turns protected mode off by default (a container is reached from other addresses, and the
# network is the boundary); Debian's binary has it on, so it is passed here, before the caller's
# own arguments so that theirs win.
set -e

case $1 in
  -* | *.conf) set -- redis-server "$@" ;;
esac

# Redis reads -v, --version, -h and --help only as its first argument: nothing goes before them.
if [ "$1" = redis-server ] && ! { [ $# -eq 2 ] && case $2 in -v | --version | -h | --help) true ;; *) false ;; esac; }; then
  shift
  if [ -n "$1" ] && [ "${1#-}" = "$1" ]; then
    conf=$1
    shift
    set -- redis-server "$conf" --protected-mode no "$@"
  else
    set -- redis-server --protected-mode no "$@"
  fi
  # As the official image: the data files are the redis user's alone.
  if [ "$(umask)" = 0022 ]; then umask 0077; fi
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi

exec "$@"
