#!/usr/bin/env bash
# Starts the Docker engine when none answers, then waits until it does. Safe to run any number of times.
# Uses systemd when it runs the machine, else starts dockerd in the background (log: /tmp/dockerd.log).
set -euo pipefail
timeout_s="${BIOREACTOR_DOCKER_WAIT_S:-60}"

answers() { docker info >/dev/null 2>&1; }

if answers; then
  exit 0
fi
command -v dockerd >/dev/null || { echo "docker-engine: dockerd not found (apt-get install docker.io)" >&2; exit 1; }

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl start docker || true
fi
if ! answers && ! pgrep -x dockerd >/dev/null; then
  nohup dockerd >/tmp/dockerd.log 2>&1 &
fi

for _ in $(seq 1 "$((timeout_s * 2))"); do
  if answers; then
    echo "docker-engine: $(docker version --format 'engine {{.Server.Version}}, API {{.Server.APIVersion}}')" >&2
    exit 0
  fi
  sleep 0.5
done
echo "docker-engine: the engine did not answer within ${timeout_s}s; see /tmp/dockerd.log" >&2
exit 1
