#!/bin/sh
# Container entrypoint of the node. Experiment containers are siblings started through the host's Docker engine,
# so their bind mounts must name host paths: when HOST_DATA_PATH is not given, it is read from this container's
# own mount of DATA_DIR.
set -eu

data_dir="${DATA_DIR:-/app/data}"
mkdir -p "$data_dir"
if [ -z "${HOST_DATA_PATH:-}" ]; then
  if [ -S "${DOCKER_SOCKET:-/var/run/docker.sock}" ] && found=$(node /usr/local/lib/bioreactor/host-data-path.mjs "$data_dir"); then
    HOST_DATA_PATH="$found"
    export HOST_DATA_PATH
    echo "bioreactor-node: experiment data on the host at $HOST_DATA_PATH" >&2
  else
    echo "bioreactor-node: HOST_DATA_PATH unknown; experiments cannot start until it is set or $data_dir is mounted" >&2
  fi
fi
exec "$@"
