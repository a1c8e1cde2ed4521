// `npm start`: the whole system on one machine in simulation: node :9000, hub :8000, web :3000.
// Data lives where the deployment guide's commands look for it (bioreactor-node-v3/data, bioreactor-hub/data,
// web-server/config). Any variable already set in the environment wins over these defaults. The services' JSON log
// lines are printed by pino-pretty, one line each, prefixed with the service (BIOREACTOR_LOG_FORMAT=json keeps JSON).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prettyFactory } from 'pino-pretty';
import { buildServices, type ServiceName, serviceArgs } from './services.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...p: string[]) => join(root, ...p);

interface ServiceSpec {
  name: ServiceName;
  env: Record<string, string>;
}

const services: ServiceSpec[] = [
  {
    name: 'node',
    env: {
      PORT: '9000',
      HARDWARE_MODE: 'simulation',
      DATA_DIR: at('bioreactor-node-v3', 'data'),
      BIOREACTOR_HARDWARE_CONFIG: at('bioreactor-node-v3', 'config_hardware.json'),
    },
  },
  {
    name: 'hub',
    env: { PORT: '8000', DATA_DIR: at('bioreactor-hub', 'data'), BIOREACTOR_NODE_API_URL: 'http://localhost:9000' },
  },
  {
    name: 'web',
    env: {
      PORT: '3000',
      BIOREACTOR_CONFIG_DIR: at('web-server', 'config'),
      BIOREACTOR_HUB_API_URL: 'http://localhost:8000',
      BIOREACTOR_NODE_API_URL: 'http://localhost:9000',
    },
  },
];

for (const dir of ['bioreactor-node-v3/data', 'bioreactor-hub/data', 'web-server/config']) {
  mkdirSync(at(dir), { recursive: true });
}

if (existsSync(at('apps/web/ui/index.html'))) {
  const built = spawnSync(process.execPath, [at('node_modules/vite/bin/vite.js'), 'build', at('apps/web/ui')], {
    stdio: 'inherit',
    cwd: root,
  });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
await buildServices();

/** A JSON log line as one readable line: time, level, message, then the other fields; anything else as it is. */
const pretty =
  process.env.BIOREACTOR_LOG_FORMAT === 'json'
    ? (line: string) => `${line}\n`
    : prettyFactory({
        colorize: process.stdout.isTTY === true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
        singleLine: true,
      });

const children: ChildProcess[] = [];
let stopping = false;

function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 5000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null))))).then(
    () => process.exit(code),
    () => process.exit(code),
  );
}

for (const svc of services) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(svc.env)) env[k] ??= v;
  // Each service reads its own PORT; a PORT set for `npm start` as a whole would collide, so it is ignored.
  env.PORT = svc.env.PORT;
  const child = spawn(process.execPath, serviceArgs(svc.name), { cwd: root, env, stdio: 'pipe' });
  children.push(child);
  const prefix = `${svc.name.padEnd(4)} | `;
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) process.stdout.write(`${prefix}${line.startsWith('{') ? pretty(line) : `${line}\n`}`);
    });
  }
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stdout.write(`${prefix}exited (${signal ?? code}); stopping the others\n`);
      stopAll(code ?? 1);
    }
  });
}

process.stdout.write(
  'Bioreactor (simulation): web http://localhost:3000 · hub http://localhost:8000 · node http://localhost:9000\n',
);
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
