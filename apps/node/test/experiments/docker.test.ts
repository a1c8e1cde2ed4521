// Experiments in real containers on a real Docker engine with the experiment image (runtime/build-image.sh).
// CI installs docker.io, starts the engine and builds the image before the tests; elsewhere, without an engine or
// image, these tests are skipped with the reason printed.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runStatus, runToEnd, startNode, startRun, type TestNode, untilStatus, unzip, whyNoDocker } from './helpers.js';

const IMAGE = process.env.BIOREACTOR_EXPERIMENT_IMAGE ?? 'bioreactor-experiment';
const docker = new Docker();

const skipReason = await whyNoDocker(IMAGE);
if (skipReason && process.env.CI) throw new Error(`Docker tests must run in CI: ${skipReason}`);
if (skipReason) console.warn(`Skipping the Docker experiment tests: ${skipReason}`);

const DOCKER = { BIOREACTOR_RUNNER: 'docker', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2' };
let counter = 0;
/** Ids unique across test runs sharing one engine (container names are experiment-{id}). */
const uniqueId = (name: string) => `${name}-${process.pid}-${Date.now().toString(36)}-${counter++}`;

const nodes: TestNode[] = [];
async function node(env: Record<string, string> = {}, dataDir?: string): Promise<TestNode> {
  const n = await startNode(
    { ...DOCKER, BIOREACTOR_EXPERIMENT_IMAGE: IMAGE, ...env },
    { ...(dataDir ? { dataDir } : {}), realHardware: true },
  );
  nodes.push(n);
  return n;
}
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});
afterAll(async () => {
  // Nothing of ours stays on the engine, even after a failed test.
  const own = await docker.listContainers({ all: true, filters: { label: ['org.bioreactor.experiment'] } });
  for (const c of own) {
    if ((c.Names[0] ?? '').includes(`-${process.pid}-`)) await docker.getContainer(c.Id).remove({ force: true });
  }
});

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logOf(n: TestNode, id: string): string {
  const path = join(n.dataDir, 'experiments', id, 'output', 'container_logs.txt');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

describe.skipIf(skipReason !== null)('experiments in Docker containers', () => {
  it('runs a script that writes CSV through bioreactor_client, then applies the safe state and closes access', async () => {
    const n = await node();
    const id = uniqueId('client-csv');
    const script = [
      'from bioreactor_client import Bioreactor, measure_all_data, write_data_to_csv',
      'with Bioreactor() as bioreactor:',
      '    bioreactor.change_stirrer(45)',
      '    for _ in range(3):',
      '        data = measure_all_data(bioreactor, include_controls=True)',
      '        write_data_to_csv(data)',
      '    print("temperature", data.get("temperature"), "stirrer", data.get("stirrer_duty"))',
      '',
    ].join('\n');
    // A DS18B20 conversion takes up to 750 ms: on a busy machine the script can outrun the node's first sample.
    await waitFor('the first temperature sample', async () => {
      const res = await n.app.inject({ method: 'GET', url: '/api/v3/temp_sensor/state' });
      return typeof res.json().temperature === 'number';
    });
    const started = await startRun(n, script, { experiment_id: id });
    expect(started.statusCode).toBe(200);
    const record = await runToEnd(n, id);
    expect(record, logOf(n, id)).toMatchObject({ status: 'completed', exit_code: 0, runner: 'docker', image: IMAGE });
    expect(String(record.image_digest)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(logOf(n, id)).toMatch(/temperature \d+(\.\d+)? stirrer 45/);

    const data = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data` });
    const lines = data.body.trim().split(/\r?\n/);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty/);
    expect(n.hardware.safeStates).toEqual([`experiment ${id} completed`]);
    // The run's hardware API is gone with it.
    expect(existsSync(join(n.manager.socketDir(id), 'hardware.sock'))).toBe(false);
    const containers = await docker.listContainers({ all: true, filters: { name: [`experiment-${id}`] } });
    expect(containers).toEqual([]);
  });

  it('keeps the exit code and traceback of a failing script', async () => {
    const n = await node();
    const id = uniqueId('fails');
    await startRun(n, 'import sys\nprint("before")\nsys.stderr.write("broken sensor\\n")\nsys.exit(3)\n', {
      experiment_id: id,
    });
    const record = await runToEnd(n, id);
    expect(record).toMatchObject({ status: 'failed', exit_code: 3, oom_killed: false });
    expect(String(record.error_message)).toContain('broken sensor');
    // stdout and stderr are separate pipes: both are kept, their relative order is the engine's.
    expect(logOf(n, id).split('\n').sort()).toEqual(['', 'before', 'broken sensor']);
  });

  it('stops a run on request and at its maximum duration', async () => {
    const n = await node();
    const stopped = uniqueId('stop');
    await startRun(n, 'import time\nprint("up", flush=True)\ntime.sleep(120)\n', { experiment_id: stopped });
    await waitFor('the first output line', () => logOf(n, stopped).includes('up'));
    const res = await n.app.inject({ method: 'POST', url: `/api/experiments/${stopped}/stop` });
    expect(res.statusCode).toBe(200);
    expect((await runStatus(n, stopped)).status).toBe('stopped');

    const timed = uniqueId('timeout');
    await startRun(n, 'import time\ntime.sleep(120)\n', { experiment_id: timed, max_duration_s: 2 });
    const record = await runToEnd(n, timed);
    expect(record.status).toBe('timed_out');
    expect(n.hardware.safeStates).toEqual([`experiment ${stopped} stopped`, `experiment ${timed} timed_out`]);
  });

  it('keeps the traceback of a run that fails after 50 MB of output, with a marker for what was dropped', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_LOG_LIMIT: '1m' });
    const id = uniqueId('flood');
    await startRun(
      n,
      'import sys\nline = "x" * 1023 + "\\n"\nfor i in range(50 * 1024):\n    sys.stdout.write(line)\nsys.stdout.flush()\nraise ValueError("the end of the flood")\n',
      { experiment_id: id },
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toContain('ValueError: the end of the flood');
    const log = logOf(n, id);
    // The limit, two marker lines, and at most 64 kB of stderr added back when it fell among the dropped output.
    expect(log.length).toBeLessThan(1024 * 1024 + 64 * 1024 + 600);
    // The traceback is in the kept end of the log; stdout and stderr are copied apart, so printed lines may follow it.
    const [, kept = ''] = log.split(/\[bioreactor: \d+ bytes of output were dropped here[^\]]*\]/);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept).toContain('ValueError: the end of the flood');
  }, 120_000);

  it('reports an out-of-memory kill as such', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_MEMORY: '64m' });
    const id = uniqueId('oom');
    await startRun(n, 'blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n', {
      experiment_id: id,
    });
    const record = await runToEnd(n, id);
    expect(record).toMatchObject({ status: 'failed', oom_killed: true, exit_code: 137 });
    expect(String(record.error_message)).toMatch(/^Out of memory: .* its 64 MB limit/);
  });

  it('caps what a script may write', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_OUTPUT_LIMIT: '256k' });
    const id = uniqueId('output-cap');
    await startRun(
      n,
      'with open("/app/output/big.bin", "wb") as f:\n    for _ in range(64):\n        f.write(b"x" * 65536)\n',
      { experiment_id: id },
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toContain('File too large');
  });

  it('lets the script reach its hardware and nothing else', async () => {
    // A "hub" on the host's loopback, which the container must not reach.
    const hub: Server = createServer((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nhub'));
    await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
    const hubPort = (hub.address() as { port: number }).port;
    const n = await node();
    const other = uniqueId('other');
    mkdirSync(join(n.dataDir, 'experiments', other, 'output'), { recursive: true });
    writeFileSync(join(n.dataDir, 'experiments', other, 'output', 'secret.csv'), 'secret\n');
    const id = uniqueId('isolation');
    const script = `
import json, os, socket, urllib.error, urllib.request
results = {}
def attempt(name, fn):
    try:
        results[name] = ["reached", fn()]
    except Exception as exc:
        results[name] = ["refused", type(exc).__name__]
base = os.environ["BIOREACTOR_NODE_API_URL"]
attempt("hardware", lambda: json.load(urllib.request.urlopen(base + "/api/v3/temp_sensor/state", timeout=5))["unit"])
attempt("interfaces", lambda: [n for _, n in socket.if_nameindex()])
def udp_route():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("192.0.2.1", 53))  # no packet is sent by a UDP connect; it only needs a route
    return s.getsockname()[0]
attempt("internet_route", udp_route)
attempt("hub", lambda: socket.create_connection(("127.0.0.1", ${hubPort}), timeout=2).recv(10).decode())
attempt("docker_socket", lambda: socket.socket(socket.AF_UNIX).connect("/var/run/docker.sock"))
attempt("other_experiment", lambda: open(${JSON.stringify(join(n.dataDir, 'experiments', other, 'output', 'secret.csv'))}).read())
attempt("app_listing", lambda: sorted(os.listdir("/app")))
def route(method, path):
    try:
        return urllib.request.urlopen(urllib.request.Request(base + path, method=method, data=b"{}" if method == "POST" else None, headers={"Content-Type": "application/json"} if method == "POST" else {}), timeout=5).status
    except urllib.error.HTTPError as exc:
        return exc.code
attempt("experiment_list", lambda: route("GET", "/api/experiments"))
attempt("experiment_start", lambda: route("POST", "/api/experiments/start"))
attempt("experiment_delete", lambda: route("DELETE", "/api/experiments/${other}"))
attempt("uid", os.getuid)
attempt("write_rootfs", lambda: open("/usr/lib/evil", "w"))
status = open("/proc/self/status").read()
attempt("cap_eff", lambda: [l.split()[1] for l in status.splitlines() if l.startswith("CapEff")][0])
attempt("no_new_privs", lambda: [l.split()[1] for l in status.splitlines() if l.startswith("NoNewPrivs")][0])
print("RESULTS " + json.dumps(results))
`;
    await startRun(n, script, { experiment_id: id });
    const record = await runToEnd(n, id);
    hub.close();
    expect(record.status, logOf(n, id)).toBe('completed');
    const line = logOf(n, id)
      .split('\n')
      .find((l) => l.startsWith('RESULTS '));
    const results = JSON.parse(line?.slice(8) ?? '{}') as Record<string, [string, unknown]>;
    expect(results.hardware).toEqual(['reached', 'celsius']);
    expect(results.interfaces).toEqual(['reached', ['lo']]);
    expect(results.internet_route?.[0]).toBe('refused');
    expect(results.hub?.[0]).toBe('refused');
    expect(results.docker_socket?.[0]).toBe('refused');
    expect(results.other_experiment?.[0]).toBe('refused');
    expect(results.app_listing).toEqual(['reached', ['output', 'user_script.py']]);
    expect(results.experiment_list).toEqual(['reached', 404]);
    expect(results.experiment_start).toEqual(['reached', 404]);
    expect(results.experiment_delete).toEqual(['reached', 404]);
    expect(results.uid).toEqual(['reached', 10001]);
    expect(results.write_rootfs?.[0]).toBe('refused');
    expect(results.cap_eff).toEqual(['reached', '0000000000000000']);
    expect(results.no_new_privs).toEqual(['reached', '1']);
    expect(existsSync(join(n.dataDir, 'experiments', other, 'output', 'secret.csv'))).toBe(true);
  });

  it('re-attaches to a run across a node restart, with its log whole and hardware access back', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const id = uniqueId('restart');
    const script = `
import json, os, time, urllib.request
print("started", flush=True)
while not os.path.exists("/app/output/go"):
    time.sleep(0.05)
base = os.environ["BIOREACTOR_NODE_API_URL"]
state = json.load(urllib.request.urlopen(base + "/api/v3/temp_sensor/state", timeout=5))
print("after restart", state["unit"], flush=True)
`;
    await startRun(first, script, { experiment_id: id });
    await waitFor('the first output line', () => logOf(first, id).includes('started'));
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    // The container outlived the node.
    const info = await docker.getContainer(`experiment-${id}`).inspect();
    expect(info.State.Running).toBe(true);

    const second = await node({}, dataDir);
    expect(second.manager.activeExperimentId()).toBe(id);
    writeFileSync(join(dataDir, 'experiments', id, 'output', 'go'), '');
    const record = await runToEnd(second, id);
    expect(record.status, logOf(second, id)).toBe('completed');
    expect(logOf(second, id)).toBe('started\nafter restart celsius\n');
    expect(second.hardware.safeStates).toEqual([`experiment ${id} completed`]);
  });

  it('restores the actuators a re-attached run had set, and keeps every command of the run in its actuator log', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const id = uniqueId('restore');
    const script = `
import os, time
from bioreactor_client import Bioreactor
with Bioreactor() as b:
    b.change_stirrer(45)
    b.change_peltier(20, "cool")
    print("set", flush=True)
    while not os.path.exists("/app/output/go"):
        time.sleep(0.05)
    peltier = b.get_peltier_state()
    print("after restart", b.get_stirrer_state()["duty_cycle"], peltier["duty_cycle"], peltier["mode"], flush=True)
`;
    await startRun(first, script, { experiment_id: id });
    await waitFor('the settings', () => logOf(first, id).includes('set'));
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);

    const second = await node({}, dataDir);
    writeFileSync(join(dataDir, 'experiments', id, 'output', 'go'), '');
    expect((await runToEnd(second, id)).status, logOf(second, id)).toBe('completed');
    expect(logOf(second, id)).toContain('after restart 45.0 20.0 cool');

    const zip = unzip((await second.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` })).rawPayload);
    const log = (zip['actuator_log.jsonl'] ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { source: string; component: string; values: Record<string, unknown> });
    const stirrer = log
      .filter((e) => e.component === 'stirrer')
      .map((e) => [e.source.split(':')[0], e.values.duty_cycle]);
    // Set by the script, reset to its idle duty by the node's shutdown and start-up, restored, set to 0 by the client
    // as the script ends, and reset by the node's safe state at the run's end.
    expect(stirrer).toEqual([
      ['experiment', 45],
      ['safety', 30],
      ['safety', 30],
      ['restore', 45],
      ['experiment', 0],
      ['safety', 30],
    ]);
    const manifest = JSON.parse(zip['manifest.json'] ?? '{}') as { actuator_commands: unknown[] };
    expect(manifest.actuator_commands).toEqual(log);
  });

  it('adopts a run whose container was made before the node could record it, and removes containers no run follows', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const adopted = uniqueId('adopt');
    const ghost = uniqueId('ghost');
    const waiting =
      'import os, time\nprint("started", flush=True)\nwhile not os.path.exists("/app/output/go"):\n    time.sleep(0.05)\nprint("done", flush=True)\n';
    await startRun(first, 'import time\nprint("up", flush=True)\ntime.sleep(120)\n', { experiment_id: ghost });
    await waitFor('the ghost to run', () => logOf(first, ghost).includes('up'));
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    // As a node killed at the wrong moment leaves them: one run recorded as ended while its container runs on, and
    // one whose container was made and started while its record still says starting, with no container id.
    const statusFile = (id: string) => join(dataDir, 'experiments', id, 'status.json');
    const ghostRecord = JSON.parse(readFileSync(statusFile(ghost), 'utf8'));
    writeFileSync(statusFile(ghost), JSON.stringify({ ...ghostRecord, status: 'interrupted', runner_ref: null }));

    const second = await node({}, dataDir);
    await startRun(second, waiting, { experiment_id: adopted });
    await waitFor('the adopted run to start', () => logOf(second, adopted).includes('started'));
    await second.app.close();
    nodes.splice(nodes.indexOf(second), 1);
    const adoptedRecord = JSON.parse(readFileSync(statusFile(adopted), 'utf8'));
    writeFileSync(
      statusFile(adopted),
      JSON.stringify({ ...adoptedRecord, status: 'starting', runner_ref: null, start_time: null }),
    );

    const third = await node({}, dataDir);
    expect(third.manager.activeExperimentId()).toBe(adopted);
    // The ghost's container is gone: never two experiments at once.
    expect(await docker.listContainers({ all: true, filters: { name: [`experiment-${ghost}`] } })).toEqual([]);
    expect((await runStatus(third, ghost)).status).toBe('interrupted');
    writeFileSync(join(dataDir, 'experiments', adopted, 'output', 'go'), '');
    expect((await runToEnd(third, adopted)).status).toBe('completed');
    expect(logOf(third, adopted)).toBe('started\ndone\n');
  });

  it('marks a run interrupted when the node died between making its container and starting it', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const id = uniqueId('created');
    await startRun(first, 'print("never")\n', { experiment_id: id });
    await runToEnd(first, id);
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    const record = JSON.parse(readFileSync(join(dataDir, 'experiments', id, 'status.json'), 'utf8'));
    writeFileSync(
      join(dataDir, 'experiments', id, 'status.json'),
      JSON.stringify({ ...record, status: 'starting', runner_ref: null, start_time: null, end_time: null }),
    );
    await docker.createContainer({
      name: `experiment-${id}`,
      Image: IMAGE,
      Cmd: ['true'],
      Labels: { 'org.bioreactor.experiment': id, 'org.bioreactor.data-dir': dataDir },
    });
    const second = await node({}, dataDir);
    expect(second.manager.activeExperimentId()).toBeNull();
    expect((await runStatus(second, id)).status).toBe('interrupted');
    expect(await docker.listContainers({ all: true, filters: { name: [`experiment-${id}`] } })).toEqual([]);
  });

  it('marks a run interrupted and applies the safe state when its container vanished while the node was down', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const id = uniqueId('vanished');
    await startRun(first, 'import time\nprint("up", flush=True)\ntime.sleep(120)\n', { experiment_id: id });
    await untilStatus(first, id, 'running');
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    await docker.getContainer(`experiment-${id}`).remove({ force: true });
    const second = await node({}, dataDir);
    const record = await runStatus(second, id);
    expect(record.status).toBe('interrupted');
    expect(second.hardware.safeStates).toEqual(['interrupted experiment after a node restart']);
    expect(second.manager.activeExperimentId()).toBeNull();
  });
});

describe.skipIf(skipReason !== null)('a container that attacks the node through its output folder', () => {
  /** A host file with a random marker that no answer of the node may contain. */
  function canary(n: TestNode): { path: string; marker: string } {
    const marker = `CANARY-${randomBytes(8).toString('hex')}`;
    const path = join(n.dataDir, 'host-secret.txt');
    writeFileSync(path, `${marker}\n`);
    return { path, marker };
  }

  it('cannot read host files through its log, its links or its names, and its owner still gets its results', async () => {
    const n = await node();
    const secret = canary(n);
    const id = uniqueId('links');
    const script = `
import os, stat, sys
out = "/app/output"
log = os.path.join(out, "container_logs.txt")
open(os.path.join(out, "results.csv"), "w").write("t,v\\n1,2\\n")
for name, attempt in (("unlink", lambda: os.unlink(log)), ("rename", lambda: os.rename(log, log + ".old"))):
    try:
        attempt()
        print(name, "of the log: done", flush=True)
    except OSError as exc:
        print(name, "of the log: refused", type(exc).__name__, flush=True)
os.symlink(${JSON.stringify(secret.path)}, os.path.join(out, "secret.csv"))
os.symlink("/proc/self/environ", os.path.join(out, "environ.txt"))
os.symlink("/etc", os.path.join(out, "etc"))
os.mkfifo(os.path.join(out, "fifo"))
try:
    os.mknod(os.path.join(out, "null-device"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    print("mknod: done", flush=True)
except OSError as exc:
    print("mknod: refused", type(exc).__name__, flush=True)
open(os.path.join(out, "C:\\\\x.txt"), "w").write("backslash\\n")
print("attacks planted", flush=True)
sys.exit(3)
`;
    await startRun(n, script, { experiment_id: id });
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    // The node keeps the folder its own (sticky bit): the script may not remove or rename the node's log link.
    expect(logOf(n, id)).toContain('unlink of the log: refused PermissionError');
    expect(logOf(n, id)).toContain('rename of the log: refused PermissionError');
    // No device node can be made in the container (no CAP_MKNOD); hostile-output.test.ts plants one from outside.
    expect(logOf(n, id)).toContain('mknod: refused PermissionError');
    expect(String(record.error_message)).toContain('attacks planted');
    const answers = [String(record.error_message)];
    for (const url of [
      `/api/experiments/${id}/logs`,
      `/api/experiments/${id}/logs?follow=true`,
      `/api/experiments/${id}/data?file=secret.csv`,
      `/api/experiments/${id}/data?file=environ.txt`,
      `/api/experiments/${id}/data?file=etc/hostname`,
      `/api/experiments/${id}/results`,
    ]) {
      const res = await n.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBeLessThan(500);
      answers.push(res.body);
    }
    const zip = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` });
    expect(zip.statusCode).toBe(200);
    const entries = unzip(zip.rawPayload);
    answers.push(JSON.stringify(entries));
    for (const answer of answers) {
      expect(answer).not.toContain(secret.marker);
      expect(answer).not.toContain('PATH=');
    }
    expect(Object.keys(entries).sort()).toEqual([
      'actuator_log.jsonl',
      'manifest.json',
      'output/container_logs.txt',
      'output/results.csv',
      'user_script.py',
    ]);
    expect(entries['output/container_logs.txt']).toContain('attacks planted');
    const manifest = JSON.parse(entries['manifest.json'] ?? '{}') as { left_out: { path: string; reason: string }[] };
    expect(manifest.left_out).toEqual([
      { path: 'output/C:\\x.txt', reason: 'its name has a backslash' },
      { path: 'output/environ.txt', reason: 'it is a symbolic link' },
      { path: 'output/etc', reason: 'it is a symbolic link' },
      { path: 'output/fifo', reason: 'it is a FIFO' },
      { path: 'output/secret.csv', reason: 'it is a symbolic link' },
    ]);
  });

  it('never serves what a file was swapped for while the download is built', async () => {
    const n = await node();
    const secret = canary(n);
    const id = uniqueId('swap');
    const script = `
import os, time
out = "/app/output"
for i in range(100):
    open(os.path.join(out, "f%03d.txt" % i), "w").write("regular %d\\n" % i)
p = os.path.join(out, "data.txt")
open(p, "w").write("regular\\n")
print("swapping", flush=True)
targets = [${JSON.stringify(secret.path)}, "/proc/self/environ"]
i = 0
while True:
    os.symlink(targets[i % 2], p + ".l")
    os.rename(p + ".l", p)
    open(p + ".r", "w").write("regular\\n")
    os.rename(p + ".r", p)
    i += 1
`;
    await startRun(n, script, { experiment_id: id, max_duration_s: 120 });
    await waitFor('the swapping to begin', () => logOf(n, id).includes('swapping'));
    for (let i = 0; i < 15; i++) {
      const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` });
      expect(res.statusCode).toBe(200);
      const entries = unzip(res.rawPayload);
      expect(JSON.stringify(entries)).not.toContain(secret.marker);
      expect(JSON.stringify(entries)).not.toContain('PATH=');
      expect(entries['output/data.txt'] ?? 'regular\n').toBe('regular\n');
    }
    await n.app.inject({ method: 'POST', url: `/api/experiments/${id}/stop` });
  });

  it('never writes through a link in output/ when it re-attaches after a restart', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    const secret = canary(first);
    const id = uniqueId('relink');
    const script = `
import os, time
print("started", flush=True)
while not os.path.exists("/app/output/go"):
    time.sleep(0.05)
print("after restart", flush=True)
`;
    await startRun(first, script, { experiment_id: id });
    await waitFor('the first output line', () => logOf(first, id).includes('started'));
    await first.app.close();
    nodes.splice(nodes.indexOf(first), 1);
    // The worst case: output/container_logs.txt replaced by a link to a host file while the node is down (a node
    // running as a user other than root cannot keep the script from it).
    const link = join(dataDir, 'experiments', id, 'output', 'container_logs.txt');
    rmSync(link);
    symlinkSync(secret.path, link);

    const second = await node({}, dataDir);
    expect(second.manager.activeExperimentId()).toBe(id);
    writeFileSync(join(dataDir, 'experiments', id, 'output', 'go'), '');
    expect((await runToEnd(second, id)).status).toBe('completed');
    expect(readFileSync(secret.path, 'utf8')).toBe(`${secret.marker}\n`);
    expect(readFileSync(join(dataDir, 'experiments', id, 'container_logs.txt'), 'utf8')).toBe(
      'started\nafter restart\n',
    );
    const logs = await second.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs` });
    expect(logs.json().logs).toBe('started\nafter restart\n');
  });
});
