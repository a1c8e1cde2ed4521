// A node whose disk fills: a start is refused with the reason, a run is stopped before the disk is full, and an end
// that cannot be written is served, reported ("disk full" in /health and /api/status) and written once there is
// room again, never a run stuck in `running`. DATA_DIR is a small tmpfs of its own (mounting needs root, as CI is).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runStatus, runToEnd, startNode, startRun, type TestNode, tempDataDir } from './helpers.js';

const mounts: string[] = [];
const nodes: TestNode[] = [];

/** A fresh tmpfs of `sizeMb` MB, or null (with the reason printed) where this user may not mount. */
function smallDisk(sizeMb: number): string | null {
  const dir = tempDataDir('bioreactor-disk-');
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mount.status !== 0) {
    if (process.env.CI) throw new Error(`CI must run the disk-full tests: mount failed: ${mount.stderr}`);
    console.warn(`Skipping a disk-full test: cannot mount a tmpfs here (${mount.stderr.trim()}); run as root`);
    return null;
  }
  mounts.push(dir);
  return dir;
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
  for (const dir of mounts.splice(0)) spawnSync('umount', ['-l', dir]);
});

async function node(dataDir: string, env: Record<string, string>): Promise<TestNode> {
  const n = await startNode(
    { BIOREACTOR_RUNNER: 'local', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '1', ...env },
    { dataDir },
  );
  nodes.push(n);
  return n;
}

async function status(n: TestNode): Promise<{ storage: { free_bytes: number; problem: string | null } }> {
  return (await n.app.inject({ method: 'GET', url: '/api/status' })).json();
}

describe('a node whose disk fills', () => {
  it('refuses a start below BIOREACTOR_MIN_FREE_DISK with the reason, and starts once there is room', async () => {
    const dir = smallDisk(8);
    if (!dir) return;
    const n = await node(dir, { BIOREACTOR_MIN_FREE_DISK: '3m' });
    const filler = join(dir, 'filler.bin');
    writeFileSync(filler, Buffer.alloc(6 * 1024 * 1024));
    const refused = await startRun(n, 'print(1)\n');
    expect(refused.statusCode).toBe(507);
    expect(refused.body.code).toBe('INSUFFICIENT_STORAGE');
    expect(String(refused.body.message)).toMatch(/free, below BIOREACTOR_MIN_FREE_DISK \(3\.0 MB\)/);
    expect((await status(n)).storage.problem).toMatch(/^disk full: /);
    const health = (await n.app.inject({ method: 'GET', url: '/health' })).json();
    expect(health.storage.problem).toMatch(/^disk full: /);
    rmSync(filler);
    const started = await startRun(n, 'print(1)\n');
    expect(started.statusCode).toBe(200);
    expect((await runToEnd(n, started.id)).status).toBe('completed');
    expect((await status(n)).storage.problem).toBeNull();
  });

  it('stops a run that fills the disk, with the reason, while its end can still be written', async () => {
    const dir = smallDisk(16);
    if (!dir) return;
    const n = await node(dir, { BIOREACTOR_MIN_FREE_DISK: '8m' });
    const { id } = await startRun(
      n,
      'import os, time\nwith open(os.path.join(os.environ["OUTPUT_DIR"], "grow.bin"), "wb") as f:\n    while True:\n        f.write(b"x" * 262144)\n        f.flush()\n        time.sleep(0.05)\n',
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toMatch(
      /^Stopped: the node's disk had .* free, below half of BIOREACTOR_MIN_FREE_DISK/,
    );
    // Recorded on disk, not only in memory.
    const onDisk = JSON.parse(readFileSync(join(dir, 'experiments', id, 'status.json'), 'utf8'));
    expect(onDisk.status).toBe('failed');
  });

  it('serves and reports an end it cannot write, and writes it once space is freed', async () => {
    const dir = smallDisk(8);
    if (!dir) return;
    const n = await node(dir, { BIOREACTOR_MIN_FREE_DISK: '0' });
    // Fills the disk to the last byte, then ends well.
    const { id } = await startRun(
      n,
      'import os\ntry:\n    with open(os.path.join(os.environ["OUTPUT_DIR"], "fill.bin"), "wb") as f:\n        while True:\n            f.write(b"x" * 65536)\nexcept OSError as exc:\n    print("disk full:", exc.errno)\n',
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('completed');
    // On disk the run is still running; the node serves and reports its real end.
    expect(JSON.parse(readFileSync(join(dir, 'experiments', id, 'status.json'), 'utf8')).status).toBe('running');
    const reported = await status(n);
    expect(reported.storage.problem).toMatch(
      new RegExp(`^disk full: the end of experiment ${id} could not be written`),
    );
    const next = await startRun(n, 'print(1)\n');
    expect(next.statusCode).toBe(507);
    rmSync(join(dir, 'experiments', id, 'output', 'fill.bin'));
    const deadline = Date.now() + 15_000;
    while ((await status(n)).storage.problem !== null) {
      if (Date.now() > deadline) throw new Error('the end was not written after space was freed');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(JSON.parse(readFileSync(join(dir, 'experiments', id, 'status.json'), 'utf8')).status).toBe('completed');
    expect((await runStatus(n, id)).status).toBe('completed');
  });
});
