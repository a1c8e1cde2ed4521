#!/bin/sh
# Container entrypoint of the hub and the web server: started as root only to hand the mounted data folders to the
# unprivileged `node` user (a bind mount that Docker created on the host is root-owned), then runs the service as
# `node`. Started as any other user (docker run --user), it runs the service unchanged.
set -eu

if [ "$(id -u)" = 0 ]; then
  for dir in ${BIOREACTOR_WRITABLE_DIRS:-}; do
    mkdir -p "$dir"
    # Only when needed: a large data folder is not walked on every start.
    if [ "$(stat -c %u "$dir")" != 1000 ]; then
      chown -R node:node "$dir"
    fi
  done
  exec env HOME=/home/node setpriv --reuid=node --regid=node --init-groups -- "$@"
fi
exec "$@"
