// Hostile experiment scripts through the whole system (hub → node → Docker container): a fork bomb, a memory bomb,
// filling the output folder, a flood of output, running past the maximum duration, trying to reach the internet,
// the hub, the Docker socket and another experiment's files, and planting links and unzippable names in its output
// to read the node's host through its logs and download. Each is contained and reported, and the experiment
// queued behind it runs normally. Needs a Docker engine with the experiment image: CI starts dockerd and builds it
// (runtime/build-image.sh); elsewhere the suite is skipped with the reason printed.
import { FINAL_STATES } from '@bioreactor/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unzip, whyNoDocker } from '../../apps/node/test/experiments/helpers.js';
import { submit, untilStatus } from '../../bench/lib/hub-client.js';
import { BioreactorSystem } from '../../bench/lib/system.js';

const IMAGE = process.env.BIOREACTOR_EXPERIMENT_IMAGE ?? 'bioreactor-experiment';
const user = { 'x-session-id': 'hostile-user' };

const skipReason = await whyNoDocker(IMAGE);
if (skipReason && process.env.CI) throw new Error(`The hostile-script suite must run in CI: ${skipReason}`);
if (skipReason) console.warn(`Skipping the hostile-script suite: ${skipReason}`);

const NORMAL = `
from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv
with Bioreactor() as b:
    b.change_stirrer(40)
    write_data_to_csv(measure_all_data(b))
print("normal run done")
`;

interface Hostile {
  name: string;
  script: (ctx: { hubUrl: string; dataDir: string; victimId: string }) => string;
  maxDurationS?: number;
  /** The hub's final state, and what its error message must say (null: no error). */
  status: string;
  error: RegExp | null;
  /** More to check once the run ended, through the hub as its owner sees it. */
  check?: (ctx: { hubUrl: string; id: string }) => Promise<void>;
}

/** In the node's environment only: no answer of the system may ever contain it (/proc/self/environ of the node). */
const CANARY = `canary-${process.pid}-${Date.now().toString(36)}`;

const HOSTILE: Hostile[] = [
  {
    name: 'fork bomb',
    script: () => 'import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n',
    maxDurationS: 8,
    status: 'failed',
    error: /maximum duration/i,
  },
  {
    name: 'memory bomb',
    script: () => 'hog = []\nwhile True:\n    hog.append(bytearray(16 * 1024 * 1024))\n',
    status: 'failed',
    error: /memory/i,
  },
  {
    name: 'filling the output folder',
    script: () =>
      'import os\nwith open(os.path.join(os.environ["OUTPUT_DIR"], "fill.bin"), "wb") as f:\n    while True:\n        f.write(b"\\0" * 1048576)\n        f.flush()\n',
    maxDurationS: 60,
    status: 'failed',
    error: /limit|large|space|exit code/i,
  },
  {
    name: 'a flood of output',
    script: () =>
      'import sys, time\nend = time.time() + 4\nwhile time.time() < end:\n    sys.stdout.write("x" * 1000 + "\\n")\nprint("flood over")\n',
    status: 'completed',
    error: null,
  },
  {
    name: 'running past the maximum duration',
    script: () => 'import time\nprint("sleeping", flush=True)\ntime.sleep(600)\n',
    maxDurationS: 3,
    status: 'failed',
    error: /maximum duration/i,
  },
  {
    name: 'reaching the internet, the hub, the Docker socket and other experiments’ files',
    // Exits 0 only when every attempt failed; prints what it reached otherwise.
    script: ({ hubUrl, dataDir, victimId }) => `
import glob, os, socket, sys, urllib.request
reached = []
def attempt(name, fn):
    try:
        fn()
        reached.append(name)
    except Exception:
        pass
attempt("internet", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3))
attempt("internet-dns", lambda: socket.getaddrinfo("deb.debian.org", 80))
attempt("hub", lambda: urllib.request.urlopen(${JSON.stringify(`${hubUrl}/health`)}, timeout=3))
attempt("hub-via-docker-host", lambda: urllib.request.urlopen("http://172.17.0.1:${new URL(hubUrl).port}/health", timeout=3))
for sock in ("/var/run/docker.sock", "/run/docker.sock"):
    def docker_socket(path=sock):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(3)
        s.connect(path)
    attempt("docker-socket " + sock, docker_socket)
out = os.environ["OUTPUT_DIR"]
for path in (os.path.join(out, "..", "..", ${JSON.stringify(victimId)}, "output", "experiment_data.csv"),
             ${JSON.stringify(`${dataDir}/experiments/${victimId}/output/experiment_data.csv`)},
             "/app/experiments/${victimId}/output/experiment_data.csv"):
    attempt("file " + path, lambda p=path: open(p).read())
others = [p for root in ("/app", "/data", "/home", "/tmp", "/mnt", "/srv", "/var/lib", "/opt", "/run")
          for p in glob.glob(root + "/**/experiment_data.csv", recursive=True) if not p.startswith(out)]
if others:
    reached.append("found " + ",".join(others[:3]))
print("REACHED", reached, flush=True)
sys.exit(1 if reached else 0)
`,
    maxDurationS: 120,
    status: 'completed',
    error: null,
  },
  {
    name: 'reading the host through links and names in its output (log, /proc, folders, a swap, a FIFO)',
    script: ({ dataDir }) => `
import os, sys, threading, time
out = os.environ["OUTPUT_DIR"]
log = os.path.join(out, "container_logs.txt")
open(os.path.join(out, "results.csv"), "w").write("t,v\\n1,2\\n")
try:
    os.unlink(log)
    os.symlink("/proc/self/environ", log)
except OSError as exc:
    print("the log link stays:", type(exc).__name__, flush=True)
os.symlink("/proc/self/environ", os.path.join(out, "environ.txt"))
os.symlink(${JSON.stringify(dataDir)}, os.path.join(out, "node-data"))
os.symlink("/", os.path.join(out, "root"))
os.mkfifo(os.path.join(out, "fifo"))
open(os.path.join(out, "C:\\\\x.txt"), "w").write("x\\n")
p = os.path.join(out, "swap.txt")
def swap():
    while True:
        os.symlink("/proc/self/environ", p + ".l")
        os.rename(p + ".l", p)
        open(p + ".r", "w").write("regular\\n")
        os.rename(p + ".r", p)
threading.Thread(target=swap, daemon=True).start()
time.sleep(3)
print("planted", flush=True)
sys.exit(3)
`,
    status: 'failed',
    error: /Exit code 3.*planted/s,
    check: async ({ hubUrl, id }) => {
      const answers: string[] = [];
      for (const path of ['status', 'logs', 'logs?follow=true', 'results', 'data?file=environ.txt']) {
        const res = await fetch(`${hubUrl}/api/experiments/${id}/${path}`, { headers: user });
        expect(res.status, path).toBeLessThan(500);
        answers.push(await res.text());
      }
      const zip = await fetch(`${hubUrl}/api/experiments/${id}/download`, { headers: user });
      expect(zip.status).toBe(200);
      const entries = unzip(Buffer.from(await zip.arrayBuffer()));
      answers.push(JSON.stringify(entries));
      for (const answer of answers) expect(answer).not.toContain(CANARY);
      expect(entries['output/results.csv']).toBe('t,v\n1,2\n');
      expect(entries['output/container_logs.txt']).toContain('planted');
      expect(entries['output/swap.txt'] ?? 'regular\n').toBe('regular\n');
      const manifest = JSON.parse(entries['manifest.json'] ?? '{}') as { left_out: { path: string; reason: string }[] };
      expect(manifest.left_out).toEqual(
        expect.arrayContaining([
          { path: 'output/C:\\x.txt', reason: 'its name has a backslash' },
          { path: 'output/environ.txt', reason: 'it is a symbolic link' },
          { path: 'output/fifo', reason: 'it is a FIFO' },
          { path: 'output/node-data', reason: 'it is a symbolic link' },
          { path: 'output/root', reason: 'it is a symbolic link' },
        ]),
      );
    },
  },
];

let system: BioreactorSystem;

beforeAll(async () => {
  if (skipReason) return;
  system = await new BioreactorSystem({
    nodeEnv: {
      BIOREACTOR_RUNNER: 'docker',
      BIOREACTOR_EXPERIMENT_IMAGE: IMAGE,
      BIOREACTOR_EXPERIMENT_MEMORY: '128m',
      BIOREACTOR_EXPERIMENT_PIDS: '64',
      BIOREACTOR_EXPERIMENT_OUTPUT_LIMIT: '16m',
      BIOREACTOR_EXPERIMENT_LOG_LIMIT: '1m',
      BIOREACTOR_RELIABILITY_CANARY: CANARY,
    },
    // Every hostile script and the experiment behind it are queued at once, by one user.
    hubEnv: { BIOREACTOR_MAX_ACTIVE_PER_USER: '20' },
    services: ['node', 'hub'],
  }).start();
}, 180_000);

afterAll(async () => {
  await system?.dispose();
});

let victimId = '';

async function hardwareSafe(): Promise<void> {
  const state = (await (await fetch(`${system.node.url}/api/v3/state`)).json()) as {
    components: { peltier_driver?: { active: boolean }; pumps?: { active: boolean } };
  };
  expect(state.components.pumps?.active).toBe(false);
  expect(state.components.peltier_driver?.active).toBe(false);
}

describe.skipIf(skipReason !== null)('hostile experiment scripts', () => {
  beforeAll(async () => {
    // A finished experiment of another user, whose files the escape attempt goes after.
    const victim = { 'x-session-id': 'victim-user' };
    victimId = await submit(system.hub.url, NORMAL, victim);
    expect((await untilStatus(system.hub.url, victimId, FINAL_STATES, victim, 120_000)).status).toBe('completed');
  }, 180_000);

  for (const hostile of HOSTILE) {
    it(`${hostile.name}: contained, reported, and the next experiment runs normally`, async () => {
      const hubUrl = system.hub.url;
      const script = hostile.script({ hubUrl, dataDir: system.node.env.DATA_DIR ?? '', victimId });
      const extra = hostile.maxDurationS ? { max_duration_s: hostile.maxDurationS } : {};
      const id = await submit(hubUrl, script, user, extra);
      const next = await submit(hubUrl, NORMAL, user);
      const end = (await untilStatus(hubUrl, id, FINAL_STATES, user, 150_000)) as unknown as {
        status: string;
        error_message: string | null;
      };
      const logs = await (await fetch(`${hubUrl}/api/experiments/${id}/logs?tail=5`, { headers: user })).text();
      expect(end.status, `${end.error_message} ${logs}`).toBe(hostile.status);
      if (hostile.error) expect(end.error_message ?? '').toMatch(hostile.error);
      await hostile.check?.({ hubUrl, id });
      expect((await untilStatus(hubUrl, next, FINAL_STATES, user, 150_000)).status).toBe('completed');
      await hardwareSafe();
    }, 360_000);
  }
});
