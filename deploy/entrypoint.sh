#!/bin/sh
# Container entrypoint of the hub and the web server: started as root only to hand the mounted data folders to the
# unprivileged `node` user (a bind mount that Docker created on the host is root-owned), then runs the service as
# `node`. Started as any other user (docker run --user), it runs the service unchanged.
set -eu

if [ "$(id -u)" = 0 ]; then
  for dir in ${BIOREACTOR_WRITABLE_DIRS:-}; do
    mkdir -p "$dir"
    # Only when something in it belongs to another user (a folder Docker created, files restored or copied in by
    # root); find stops at the first such file, so a folder in order costs one walk and no writes.
    if [ -n "$(find "$dir" ! -user node -print -quit)" ]; then
      chown -R node:node "$dir"
    fi
  done
  exec env HOME=/home/node setpriv --reuid=node --regid=node --init-groups -- "$@"
fi
exec "$@"
