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

# The node does not run as PID 1. When PID 1 of a container exits, the kernel kills every other process of the
# container at once, and the node's output supervisor must outlive the node to turn the heater off
# (docs/hardware.md, "When the node dies"). So this shell stays PID 1: it passes SIGTERM and SIGINT on to the node
# and, once the node has exited, waits for the supervisor (at most 5 s) before the container ends.
"$@" &
node_pid=$!
trap 'kill -TERM "$node_pid" 2>/dev/null || true' TERM
trap 'kill -INT "$node_pid" 2>/dev/null || true' INT
status=0
wait "$node_pid" || status=$?
# A trapped signal ends `wait` early (status > 128) while the node still runs: wait again for its own exit.
while kill -0 "$node_pid" 2>/dev/null; do
  status=0
  wait "$node_pid" || status=$?
done

# Running and not a zombie (this shell, its new parent, reaps it only when it exits).
running() {
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}
pid_file="$data_dir/hardware/supervisor.pid"
supervisor=$(cat "$pid_file" 2>/dev/null || true)
if [ -n "$supervisor" ] && [ "$supervisor" != "$$" ]; then
  tries=0
  while [ "$tries" -lt 100 ] && running "$supervisor"; do
    sleep 0.05
    tries=$((tries + 1))
  done
fi
exit "$status"
