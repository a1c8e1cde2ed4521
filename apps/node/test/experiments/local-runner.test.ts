// The experiment API end to end with the local runner (python3 on this machine): the runner the hub's and web
// server's tests use, and the one `npm start` falls back to without a Docker engine.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NEXT_OFFSET_HEADER } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEvents, runStatus, runToEnd, startNode, startRun, type TestNode, untilStatus, unzip } from './helpers.js';

const LOCAL = { BIOREACTOR_RUNNER: 'local', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2' };

const CSV_SCRIPT = `
import csv, json, os, urllib.request
base = os.environ["BIOREACTOR_NODE_API_URL"]
state = json.load(urllib.request.urlopen(base + "/api/v3/temp_sensor/state"))
req = urllib.request.Request(base + "/api/v3/stirrer/control", data=json.dumps({"duty_cycle": 40}).encode(),
                             headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req).read()
path = os.path.join(os.environ["OUTPUT_DIR"], "experiment_data.csv")
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["timestamp", "temperature", "stirrer_duty"])
    for i in range(3):
        w.writerow(["2026-01-25T20:35:1%d.000000" % i, state["temperature"], 40])
print("experiment", os.environ["EXPERIMENT_ID"], "wrote 3 rows")
`;

const nodes: TestNode[] = [];
async function node(env: Record<string, string> = {}, dataDir?: string): Promise<TestNode> {
  const n = await startNode({ ...LOCAL, ...env }, dataDir ? { dataDir } : {});
  nodes.push(n);
  return n;
}
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

describe('experiments with the local runner', () => {
  it('runs a script that reads a sensor, drives an actuator and writes CSV, then applies the safe state', async () => {
    const n = await node();
    const started = await startRun(n, CSV_SCRIPT, { experiment_id: 'csv-run-1' });
    expect(started.statusCode).toBe(200);
    expect(started.body).toMatchObject({ status: 'success', experiment_id: 'csv-run-1' });

    const record = await runToEnd(n, 'csv-run-1');
    expect(record).toMatchObject({ status: 'completed', exit_code: 0, error_message: null, runner: 'local' });
    expect(Date.parse(String(record.end_time))).toBeGreaterThanOrEqual(Date.parse(String(record.start_time)));

    const logs = await n.app.inject({ method: 'GET', url: '/api/experiments/csv-run-1/logs?tail=10' });
    expect(logs.json().logs).toContain('experiment csv-run-1 wrote 3 rows');
    expect(readFileSync(join(n.dataDir, 'experiments/csv-run-1/output/container_logs.txt'), 'utf8')).toContain(
      'wrote 3 rows',
    );

    const data = await n.app.inject({ method: 'GET', url: '/api/experiments/csv-run-1/data?offset=0' });
    expect(data.headers['content-type']).toContain('text/csv');
    const rows = data.body.trim().split(/\r?\n/);
    expect(rows).toEqual([
      'timestamp,temperature,stirrer_duty',
      '2026-01-25T20:35:10.000000,37.25,40',
      '2026-01-25T20:35:11.000000,37.25,40',
      '2026-01-25T20:35:12.000000,37.25,40',
    ]);
    const next = Number(data.headers[NEXT_OFFSET_HEADER]);
    expect(next).toBe(Buffer.byteLength(data.body));
    const rest = await n.app.inject({ method: 'GET', url: `/api/experiments/csv-run-1/data?offset=${next}` });
    expect(rest.body).toBe('');
    expect(Number(rest.headers[NEXT_OFFSET_HEADER])).toBe(next);

    expect(n.hardware.commands).toHaveLength(1);
    expect(n.hardware.commands[0]).toMatchObject({ source: 'experiment:csv-run-1', body: { duty_cycle: 40 } });
    expect(n.hardware.safeStates).toEqual(['experiment csv-run-1 completed']);
    expect(n.manager.activeExperimentId()).toBeNull();

    const results = await n.app.inject({ method: 'GET', url: '/api/experiments/csv-run-1/results' });
    expect(results.json().results).toEqual({
      experiment_id: 'csv-run-1',
      output_files: ['container_logs.txt', 'experiment_data.csv'],
      exit_code: 0,
    });
    const list = await n.app.inject({ method: 'GET', url: '/api/experiments' });
    expect(list.json().experiments.map((e: { experiment_id: string }) => e.experiment_id)).toEqual(['csv-run-1']);
  });

  it('keeps the exit code and the end of the traceback of a failing script', async () => {
    const n = await node();
    const { id } = await startRun(n, 'import sys\nprint("about to fail")\nraise ValueError("bad calibration")\n');
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(record.exit_code).toBe(1);
    expect(String(record.error_message)).toMatch(/^Exit code 1: /);
    expect(String(record.error_message)).toContain('ValueError: bad calibration');
    expect(n.hardware.safeStates).toHaveLength(1);
  });

  it('refuses a second start with 409, stops the first on request and keeps it stopped', async () => {
    const n = await node();
    const { id } = await startRun(n, 'import time\nprint("waiting", flush=True)\ntime.sleep(60)\n');
    const second = await startRun(n, 'print(1)\n');
    expect(second.statusCode).toBe(409);
    expect(second.body.code).toBe('NODE_BUSY');
    expect(String(second.body.message)).toContain(id);

    const stop = await n.app.inject({ method: 'POST', url: `/api/experiments/${id}/stop` });
    expect(stop.statusCode).toBe(200);
    const record = await runStatus(n, id);
    expect(record.status).toBe('stopped');
    expect(n.hardware.safeStates).toEqual([`experiment ${id} stopped`]);
    // Stopping again is harmless and does not turn it into something else.
    const again = await n.app.inject({ method: 'POST', url: `/api/experiments/${id}/stop` });
    expect(again.statusCode).toBe(200);
    expect((await runStatus(n, id)).status).toBe('stopped');

    const third = await startRun(n, 'print("next")\n');
    expect(third.statusCode).toBe(200);
    expect((await runToEnd(n, third.id)).status).toBe('completed');
  });

  it('answers a retried start of the same run instead of refusing it', async () => {
    const n = await node();
    const script = 'import time\ntime.sleep(30)\n';
    const first = await startRun(n, script, { experiment_id: 'retry-1' });
    const retry = await startRun(n, script, { experiment_id: 'retry-1' });
    expect(first.statusCode).toBe(200);
    expect(retry.statusCode).toBe(200);
    await n.app.inject({ method: 'POST', url: '/api/experiments/retry-1/stop' });
    const reuse = await startRun(n, 'print(1)\n', { experiment_id: 'retry-1' });
    expect(reuse.statusCode).toBe(409);
    expect(reuse.body.code).toBe('INVALID_STATE');
  });

  it('stops a run at its maximum duration as timed_out', async () => {
    const n = await node();
    const { id } = await startRun(n, 'import time\ntime.sleep(60)\n', { max_duration_s: 1 });
    const record = await runToEnd(n, id);
    expect(record.status).toBe('timed_out');
    expect(record.error_message).toBe('Stopped after its maximum duration of 1 s');
    expect(n.hardware.safeStates).toHaveLength(1);
  });

  it('runs an experiment allowed 30 days to its own end (no timer overflow)', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_MAX_DURATION_S: String(40 * 86_400) });
    const { id, statusCode } = await startRun(n, 'import time\ntime.sleep(0.5)\nprint("done")\n', {
      max_duration_s: 30 * 86_400,
    });
    expect(statusCode).toBe(200);
    expect(await runToEnd(n, id)).toMatchObject({ status: 'completed', max_duration_s: 30 * 86_400 });
  });

  it('refuses a max_duration_s above the node limit', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_MAX_DURATION_S: '60' });
    const res = await startRun(n, 'print(1)\n', { max_duration_s: 61 });
    expect(res.statusCode).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(String(res.body.message)).toContain('BIOREACTOR_EXPERIMENT_MAX_DURATION_S');
  });

  it('ends a run whose output grows past the cap', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_OUTPUT_LIMIT: '256k' });
    const { id } = await startRun(
      n,
      'import os\nwith open(os.path.join(os.environ["OUTPUT_DIR"], "big.bin"), "wb") as f:\n    for _ in range(64):\n        f.write(b"x" * 65536)\n',
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toMatch(/File too large|limit/);
  });

  it('caps the log, keeping its beginning and its end (the traceback) with a marker for what was dropped', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_LOG_LIMIT: '4k' });
    const { id } = await startRun(
      n,
      'import sys\nfor i in range(2000):\n    print("line", i)\nsys.stdout.flush()\nraise RuntimeError("the end of a long run")\n',
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toContain('RuntimeError: the end of a long run');
    const log = readFileSync(join(n.dataDir, `experiments/${id}/output/container_logs.txt`), 'utf8');
    expect(log.length).toBeLessThan(4096 + 200);
    expect(log.startsWith('line 0\nline 1\n')).toBe(true);
    expect(log).toMatch(
      /\[bioreactor: \d+ bytes of output were dropped here; the log keeps the first 2048 and the last 2048 bytes/,
    );
    expect(log.trimEnd().endsWith('RuntimeError: the end of a long run')).toBe(true);
    expect(log).toContain('line 1999\n');
    // Every line kept appears once, in order; the lines cut at either side of the marker are partial.
    const [head = '', tail = ''] = log.split(/\n\[bioreactor: .*\]\n/);
    const numbers = (text: string) => [...text.matchAll(/^line (\d+)$/gm)].map((m) => Number(m[1]));
    const kept = [...numbers(head.slice(0, head.lastIndexOf('\n'))), ...numbers(tail.slice(tail.indexOf('\n') + 1))];
    expect(kept).toEqual([...kept].sort((a, b) => a - b));
    expect(new Set(kept).size).toBe(kept.length);
    const logs = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs?tail=3` });
    expect(logs.json().logs).toContain('RuntimeError: the end of a long run');
  });

  it('rejects bad ids, unknown experiments and paths outside output/', async () => {
    const n = await node();
    const bad = await startRun(n, 'print(1)\n', { experiment_id: '../escape' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    const unknown = await n.app.inject({ method: 'GET', url: '/api/experiments/nope/status' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('EXPERIMENT_NOT_FOUND');
    const traversal = await n.app.inject({ method: 'GET', url: '/api/experiments/..%2F..%2Fetc/status' });
    expect(traversal.statusCode).toBe(400);

    const { id } = await startRun(n, 'print(1)\n');
    await runToEnd(n, id);
    const up = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data?file=../user_script.py` });
    expect(up.statusCode).toBe(400);
    const missing = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data` });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('FILE_NOT_FOUND');
    // A link the script leaves in its output must never make the node read a file of the host.
    const secret = join(n.dataDir, 'secret.txt');
    writeFileSync(secret, 'node secret\n');
    symlinkSync(secret, join(n.dataDir, `experiments/${id}/output/leak.csv`));
    const leak = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data?file=leak.csv` });
    expect(leak.statusCode).toBe(404);
    const zip = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` });
    expect(Object.keys(unzip(zip.rawPayload))).not.toContain('output/leak.csv');
    const past = await n.app.inject({
      method: 'GET',
      url: `/api/experiments/${id}/data?file=container_logs.txt&offset=999999`,
    });
    expect(past.statusCode).toBe(400);
  });

  it('refuses the local runner with real hardware unless allowed', async () => {
    const n = await node({ HARDWARE_MODE: 'real' });
    const res = await startRun(n, 'print(1)\n');
    expect(res.statusCode).toBe(503);
    expect(res.body.code).toBe('RUNNER_UNAVAILABLE');
    expect(String(res.body.message)).toContain('BIOREACTOR_ALLOW_LOCAL_RUNNER_IN_REAL');
    expect(n.manager.runnerInfo()).toMatchObject({ kind: 'local', available: false });
    const list = await n.app.inject({ method: 'GET', url: '/api/experiments' });
    expect(list.json().experiments).toEqual([]);
  });

  it('zips output, script and a manifest with provenance', async () => {
    const n = await node();
    const { id } = await startRun(n, CSV_SCRIPT);
    await runToEnd(n, id);
    const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="experiment_${id}_results.zip"`);
    const files = unzip(res.rawPayload);
    expect(Object.keys(files).sort()).toEqual([
      'manifest.json',
      'output/container_logs.txt',
      'output/experiment_data.csv',
      'user_script.py',
    ]);
    expect(files['user_script.py']).toBe(CSV_SCRIPT);
    const manifest = JSON.parse(files['manifest.json'] ?? '{}');
    const { createHash } = await import('node:crypto');
    expect(manifest).toMatchObject({
      experiment_id: id,
      status: 'completed',
      exit_code: 0,
      script_sha256: createHash('sha256').update(CSV_SCRIPT).digest('hex'),
      node_version: '3.0.0',
      runner: 'local',
      hardware_config: { init_components: { stirrer: true } },
      capabilities: { stirrer: { type: 'actuator' } },
    });
    expect(manifest.csv.columns).toEqual([
      { name: 'timestamp', unit: 'ISO 8601' },
      { name: 'temperature', unit: '°C' },
      { name: 'stirrer_duty', unit: '%' },
    ]);
    expect(manifest.actuator_commands).toEqual([expect.objectContaining({ component: 'stirrer' })]);
    // The actuators' counters when the run started, and once it had ended and the safe state was applied.
    const safeBefore = n.hardware.safeStates.length - 1;
    expect(manifest.counters).toEqual({
      at_start: { pumps: { inflow: { total_volume_ml: safeBefore } } },
      at_end: { pumps: { inflow: { total_volume_ml: safeBefore + 1 } } },
    });
    const csvEntry = manifest.files.find((f: { path: string }) => f.path === 'output/experiment_data.csv');
    expect(csvEntry.sha256).toBe(
      createHash('sha256')
        .update(files['output/experiment_data.csv'] ?? '')
        .digest('hex'),
    );
  });

  it('follows logs and CSV rows over SSE until the run ends', async () => {
    const n = await node();
    const { id } = await startRun(
      n,
      'import os, time\np = os.path.join(os.environ["OUTPUT_DIR"], "experiment_data.csv")\nopen(p, "w").write("t,v\\n")\nfor i in range(3):\n    print("tick", i, flush=True)\n    open(p, "a").write("%d,%d\\n" % (i, i * 10))\n    time.sleep(0.2)\n',
    );
    const [logs, data] = await Promise.all([
      n.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs?follow=true&tail=5` }),
      n.app.inject({
        method: 'GET',
        url: `/api/experiments/${id}/data?follow=true`,
        headers: { accept: 'text/event-stream' },
      }),
    ]);
    const logEvents = parseEvents(logs.body);
    const text = logEvents
      .filter((e) => e.event === 'run.log')
      .map((e) => (e.data as { text: string }).text)
      .join('');
    expect(text).toBe('tick 0\ntick 1\ntick 2\n');
    expect(logEvents.at(-1)).toMatchObject({ event: 'run.updated', data: { experiment: { status: 'completed' } } });
    const dataEvents = parseEvents(data.body).filter((e) => e.event === 'run.data');
    const csv = dataEvents.map((e) => (e.data as { text: string }).text).join('');
    expect(csv).toBe('t,v\n0,0\n1,10\n2,20\n');
    for (const e of dataEvents) expect((e.data as { text: string }).text.endsWith('\n')).toBe(true);
  });

  it('streams run.updated events for every state change', async () => {
    const n = await node();
    const seen: string[] = [];
    n.manager.on('run', (r) => seen.push(r.status));
    const { id } = await startRun(n, 'print("hi")\n');
    await runToEnd(n, id);
    expect(seen).toEqual(['starting', 'running', 'completed']);
    // The HTTP stream opens with the live run, so a follower that connects late still knows what runs.
    const slow = await startRun(n, 'import time\ntime.sleep(30)\n');
    await untilStatus(n, slow.id, 'running');
    const address = await n.app.listen({ port: 0, host: '127.0.0.1' });
    const controller = new AbortController();
    const res = await fetch(`${address}/api/experiments/events`, { signal: controller.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('\n\n', text.indexOf('run.updated'))) {
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(parseEvents(text)[0]).toMatchObject({ event: 'run.updated', data: { experiment: { status: 'running' } } });
    await n.app.inject({ method: 'POST', url: `/api/experiments/${slow.id}/stop` });
  });

  it('keeps status, logs and downloads across a node restart', async () => {
    const first = await node();
    const { id } = await startRun(first, 'print("persisted output")\n');
    await runToEnd(first, id);
    await first.app.close();
    const second = await node({}, first.dataDir);
    expect((await runStatus(second, id)).status).toBe('completed');
    const logs = await second.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs` });
    expect(logs.json().logs).toContain('persisted output');
    const del = await second.app.inject({ method: 'DELETE', url: `/api/experiments/${id}` });
    expect(del.statusCode).toBe(200);
    expect((await second.app.inject({ method: 'GET', url: `/api/experiments/${id}/status` })).statusCode).toBe(404);
  });

  it('marks a run orphaned by a crashed node interrupted, ends its process and applies the safe state', async () => {
    const first = await node();
    const dataDir = first.dataDir;
    await first.app.close();
    // What kill -9 of the node leaves: a status.json that says running and the script's process still alive.
    const id = 'orphan-1';
    const dir = join(dataDir, 'experiments', id);
    mkdirSync(join(dir, 'output'), { recursive: true });
    const script = join(dir, 'user_script.py');
    writeFileSync(script, 'import time\ntime.sleep(60)\n');
    const orphan = spawn('python3', [script], { detached: true, stdio: 'ignore' });
    const exited = new Promise((resolve) => orphan.once('exit', resolve));
    const now = new Date().toISOString();
    writeFileSync(
      join(dir, 'status.json'),
      JSON.stringify({
        experiment_id: id,
        status: 'running',
        start_time: now,
        end_time: null,
        exit_code: null,
        error_message: null,
        oom_killed: false,
        max_duration_s: 600,
        runner: 'local',
        image: null,
        image_digest: null,
        script_sha256: 'x',
        created_time: now,
        runner_ref: String(orphan.pid),
        context: { node_version: '3.0.0', hardware_mode: 'simulation', hardware_config: null, capabilities: null },
        limits: { memory_bytes: 1, cpus: 1, pids: 1, output_bytes: 1, log_bytes: 1 },
      }),
    );
    const second = await node({}, dataDir);
    await exited;
    const record = await runStatus(second, id);
    expect(record.status).toBe('interrupted');
    expect(record.error_message).toContain('node restarted');
    expect(second.hardware.safeStates).toEqual(['interrupted experiment after a node restart']);
  });
});
