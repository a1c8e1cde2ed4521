// Prints the host path behind a folder of this container (default /app/data), asked of the Docker engine through
// its socket. The node starts experiment containers as siblings, and their bind mounts name HOST paths; this lets
// `docker run -v ./bioreactor-node-v3/data:/app/data …` work without HOST_DATA_PATH and without guessing $PWD.
// Exits 1 with a reason on stderr when it cannot tell (no socket, not a bind mount or volume, no such mount).
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

const target = process.argv[2] ?? '/app/data';
const socketPath = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';

function fail(reason) {
  process.stderr.write(`host-data-path: ${reason}\n`);
  process.exit(1);
}

// Docker writes /etc/hostname from /var/lib/docker/containers/<id>/hostname, which names this container even
// when the compose file sets a hostname; the hostname itself is the short id otherwise.
function ownContainerId() {
  try {
    const match = readFileSync('/proc/self/mountinfo', 'utf8').match(/\/containers\/([0-9a-f]{64})\/hostname /);
    if (match) return match[1];
  } catch {}
  return process.env.HOSTNAME;
}

const id = ownContainerId();
if (!id) fail('cannot tell which container this is');

const req = request({ socketPath, path: `/containers/${id}/json`, timeout: 5000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk) => {
    body += chunk;
  });
  res.on('end', () => {
    if (res.statusCode !== 200) fail(`the engine answered ${res.statusCode} for container ${id}`);
    const mounts = JSON.parse(body).Mounts ?? [];
    const mount = mounts.find((m) => m.Destination === target);
    if (!mount?.Source) fail(`${target} is not mounted from the host (mount it: -v <host folder>:${target})`);
    process.stdout.write(`${mount.Source}\n`);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
req.on('error', (err) => fail(`cannot reach the Docker engine at ${socketPath}: ${err.message}`));
req.end();
