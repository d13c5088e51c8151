#!/bin/sh
# The official node image's entrypoint contract: `docker run IMAGE --version` or
# `docker run IMAGE script.js` runs node; any other first word is run as a command.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
