// A run's output folder is written by the script and read by the node: everything there is hostile. Links to host
// files, folders and /proc, entries swapped while the node reads them, FIFOs, device nodes, names no zip can hold and
// floods of files must never make the node serve a file of the host, hang or answer 500, and the owner still gets
// the run's own results. The local runner (the script runs as the node's user, so it can do anything in output/)
// is the strongest attacker here; docker.test.ts repeats the attacks from inside a real container.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { measure } from '../../src/experiments/untrusted-tree.js';
import { runStatus, runToEnd, startNode, startRun, type TestNode, tempDataDir, unzip } from './helpers.js';

const LOCAL = { BIOREACTOR_RUNNER: 'local', BIOREACTOR_EXPERIMENT_STOP_GRACE_S: '2' };

const nodes: TestNode[] = [];
async function node(env: Record<string, string> = {}): Promise<TestNode> {
  const n = await startNode({ ...LOCAL, ...env });
  nodes.push(n);
  return n;
}
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.app.close();
});

/** A host file with a random marker: no answer of the node may ever contain the marker. */
function canary(n: TestNode): { path: string; marker: string } {
  const marker = `CANARY-${randomBytes(8).toString('hex')}`;
  const path = join(n.dataDir, 'host-secret.txt');
  writeFileSync(path, `${marker}\n`);
  return { path, marker };
}

interface Manifest {
  files: { path: string; bytes: number; sha256: string }[];
  left_out: { path: string; reason: string }[];
}

async function download(n: TestNode, id: string): Promise<{ entries: Record<string, string>; manifest: Manifest }> {
  const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/download` });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  const entries = unzip(res.rawPayload);
  return { entries, manifest: JSON.parse(entries['manifest.json'] ?? '{}') as Manifest };
}

function reasonFor(manifest: Manifest, path: string): string | undefined {
  return manifest.left_out.find((l) => l.path === path)?.reason;
}

describe('a script that attacks the node through its output folder', () => {
  it('replaces the log with a link to a host file: logs, error message and download show its own output only', async () => {
    const n = await node();
    const secret = canary(n);
    const { id } = await startRun(
      n,
      [
        'import os, sys',
        'print("own output before", flush=True)',
        'p = os.path.join(os.environ["OUTPUT_DIR"], "container_logs.txt")',
        'os.unlink(p)',
        `os.symlink(${JSON.stringify(secret.path)}, p)`,
        'print("own output after", flush=True)',
        'sys.exit(3)',
        '',
      ].join('\n'),
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toContain('own output after');
    expect(String(record.error_message)).not.toContain(secret.marker);
    const logs = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs` });
    expect(logs.json().logs).toContain('own output before');
    expect(logs.body).not.toContain(secret.marker);
    const follow = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/logs?follow=true` });
    expect(follow.body).toContain('own output after');
    expect(follow.body).not.toContain(secret.marker);
    const { entries, manifest } = await download(n, id);
    expect(entries['output/container_logs.txt']).toContain('own output after');
    expect(JSON.stringify(entries)).not.toContain(secret.marker);
    // The script's link in place of the log is not served, and the manifest says why.
    expect(reasonFor(manifest, 'output/container_logs.txt')).toBe("the node's captured log has this name");
    const results = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/results` });
    expect(results.json().results.output_files).toEqual(['container_logs.txt']);
    expect(readFileSync(secret.path, 'utf8')).toBe(`${secret.marker}\n`);
  });

  it('leaves links to files, folders and /proc, FIFOs and device nodes out of the download, with the reason', async () => {
    const n = await node();
    const secret = canary(n);
    const { id } = await startRun(
      n,
      [
        'import os',
        'out = os.environ["OUTPUT_DIR"]',
        'open(os.path.join(out, "results.csv"), "w").write("t,v\\n1,2\\n")',
        'os.makedirs(os.path.join(out, "plots"))',
        'open(os.path.join(out, "plots", "a.txt"), "w").write("plot\\n")',
        `os.symlink(${JSON.stringify(secret.path)}, os.path.join(out, "secret.csv"))`,
        `os.symlink(${JSON.stringify(secret.path)}, os.path.join(out, "plots", "deep.csv"))`,
        `os.symlink(${JSON.stringify(n.dataDir)}, os.path.join(out, "data-dir"))`,
        'os.symlink("/proc/self/environ", os.path.join(out, "environ.txt"))',
        'os.symlink("/proc/self", os.path.join(out, "proc"))',
        'os.symlink("..", os.path.join(out, "up"))',
        'os.mkfifo(os.path.join(out, "fifo"))',
        '',
      ].join('\n'),
    );
    expect((await runToEnd(n, id)).status).toBe('completed');
    const out = join(n.dataDir, 'experiments', id, 'output');
    // A device node (the kernel's /dev/null, 1:3) planted in the folder: a container cannot make one (no
    // CAP_MKNOD), so the test does, as the worst case.
    const { spawnSync } = await import('node:child_process');
    const mknod = spawnSync('mknod', [join(out, 'null-device'), 'c', '1', '3']);
    if (mknod.status !== 0) console.warn(`not testing a device node: mknod failed (${mknod.stderr} ; not root?)`);

    const { entries, manifest } = await download(n, id);
    expect(Object.keys(entries).sort()).toEqual([
      'manifest.json',
      'output/container_logs.txt',
      'output/plots/a.txt',
      'output/results.csv',
      'user_script.py',
    ]);
    const text = JSON.stringify(entries);
    expect(text).not.toContain(secret.marker);
    expect(text).not.toContain('PATH=');
    expect(reasonFor(manifest, 'output/secret.csv')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/plots/deep.csv')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/data-dir')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/environ.txt')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/proc')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/up')).toBe('it is a symbolic link');
    expect(reasonFor(manifest, 'output/fifo')).toBe('it is a FIFO');
    if (mknod.status === 0) expect(reasonFor(manifest, 'output/null-device')).toBe('it is a device node');
    expect(manifest.files.map((f) => f.path)).toContain('output/plots/a.txt');

    // The other readers of output/ refuse the same entries.
    for (const file of [
      'secret.csv',
      'plots/deep.csv',
      'environ.txt',
      'fifo',
      'proc/environ',
      'data-dir/host-secret.txt',
    ]) {
      const res = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data?file=${file}` });
      expect(res.statusCode, file).toBe(404);
      expect(res.body).not.toContain(secret.marker);
    }
    const results = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/results` });
    expect(results.json().results.output_files).toEqual(['container_logs.txt', 'plots/a.txt', 'results.csv']);
  });

  it('never serves what a file was swapped for while the download is built', async () => {
    const n = await node();
    const secret = canary(n);
    // Swaps data.txt between a regular file and a link to the host file as fast as it can, for the whole test.
    const { id } = await startRun(
      n,
      [
        'import os, time',
        'out = os.environ["OUTPUT_DIR"]',
        'for i in range(200):',
        '    open(os.path.join(out, "f%03d.txt" % i), "w").write("regular %d\\n" % i)',
        'p = os.path.join(out, "data.txt")',
        'open(p, "w").write("regular\\n")',
        'print("swapping", flush=True)',
        'end = time.time() + 60',
        'while time.time() < end:',
        `    os.symlink(${JSON.stringify(secret.path)}, p + ".l")`,
        '    os.rename(p + ".l", p)',
        '    open(p + ".r", "w").write("regular\\n")',
        '    os.rename(p + ".r", p)',
        '',
      ].join('\n'),
    );
    const deadline = Date.now() + 20_000;
    while (!readFileSync(join(n.dataDir, 'experiments', id, 'container_logs.txt'), 'utf8').includes('swapping')) {
      if (Date.now() > deadline) throw new Error('the script did not start swapping');
      await new Promise((r) => setTimeout(r, 50));
    }
    let sawLink = 0;
    let sawFile = 0;
    for (let i = 0; i < 25; i++) {
      const { entries, manifest } = await download(n, id);
      expect(JSON.stringify(entries)).not.toContain(secret.marker);
      const data = entries['output/data.txt'];
      if (data === undefined) {
        expect(reasonFor(manifest, 'output/data.txt')).toMatch(/symbolic link|removed|no longer/);
        sawLink += 1;
      } else {
        expect(data).toBe('regular\n');
        sawFile += 1;
      }
      const data2 = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/data?file=data.txt` });
      expect(data2.body).not.toContain(secret.marker);
    }
    expect(sawLink + sawFile).toBe(25);
    await n.app.inject({ method: 'POST', url: `/api/experiments/${id}/stop` });
  });

  it('leaves out names no zip can hold, and the download still works', async () => {
    const n = await node();
    const { id } = await startRun(
      n,
      [
        'import os',
        'out = os.environ["OUTPUT_DIR"].encode()',
        'def write(name, text=b"x\\n"):',
        '    with open(os.path.join(out, name), "wb") as f:',
        '        f.write(text)',
        'write(b"C:\\\\x.txt")',
        'write(b"back\\\\slash.txt")',
        'write(b"line\\nbreak.txt")',
        'write(b"bell\\x07.txt")',
        'write(b"\\xff\\xfe.txt")',
        'write("grün ✓.txt".encode())',
        'deep = out',
        'for i in range(6):',
        '    deep = os.path.join(deep, b"d" * 200)',
        '    os.mkdir(deep)',
        'open(os.path.join(deep, b"far.txt"), "wb").write(b"far\\n")',
        'nest = out',
        'for i in range(40):',
        '    nest = os.path.join(nest, b"n")',
        '    os.mkdir(nest)',
        'open(os.path.join(nest, b"bottom.txt"), "wb").write(b"bottom\\n")',
        '',
      ].join('\n'),
    );
    expect((await runToEnd(n, id)).status).toBe('completed');
    for (let i = 0; i < 2; i++) {
      const { entries, manifest } = await download(n, id);
      expect(entries['output/grün ✓.txt']).toBe('x\n');
      expect(reasonFor(manifest, 'output/C:\\x.txt')).toBe('its name has a backslash');
      expect(reasonFor(manifest, 'output/back\\slash.txt')).toBe('its name has a backslash');
      expect(reasonFor(manifest, 'output/line\\x0abreak.txt')).toBe('its name has a control character');
      expect(reasonFor(manifest, 'output/bell\\x07.txt')).toBe('its name has a control character');
      expect(reasonFor(manifest, 'output/\\ufffd\\ufffd.txt')).toBe('its name is not valid UTF-8');
      expect(manifest.left_out.some((l) => /longer than 1024 bytes/.test(l.reason))).toBe(true);
      expect(manifest.left_out.some((l) => /nested deeper than 32 folders/.test(l.reason))).toBe(true);
      expect(Object.keys(entries).some((k) => k.includes('\\'))).toBe(false);
    }
    const results = await n.app.inject({ method: 'GET', url: `/api/experiments/${id}/results` });
    expect(results.statusCode).toBe(200);
  });

  it('stops a run past its limit on files and folders, and its download is bounded', async () => {
    const n = await node({ BIOREACTOR_EXPERIMENT_OUTPUT_FILES: '50' });
    const { id } = await startRun(
      n,
      'import os, time\nout = os.environ["OUTPUT_DIR"]\nfor i in range(300):\n    open(os.path.join(out, "f%04d" % i), "w").write("x")\ntime.sleep(60)\n',
    );
    const record = await runToEnd(n, id);
    expect(record.status).toBe('failed');
    expect(String(record.error_message)).toMatch(
      /limit of 50 files and folders \(BIOREACTOR_EXPERIMENT_OUTPUT_FILES\)/,
    );
    const { entries, manifest } = await download(n, id);
    // The first 50 entries of output/ (its link to the log, then 49 of the script's files) and the node's own files;
    // the rest is summed up in one line.
    expect(Object.keys(entries).filter((k) => k.startsWith('output/f'))).toHaveLength(49);
    const onDisk = readdirSync(join(n.dataDir, 'experiments', id, 'output')).length;
    expect(onDisk).toBeGreaterThan(50);
    expect(manifest.left_out.at(-1)).toEqual({
      path: `output/(${onDisk - 50} more entries)`,
      reason: "the run's output is limited to 50 files and folders (BIOREACTOR_EXPERIMENT_OUTPUT_FILES)",
    });
    expect((await runStatus(n, id)).status).toBe('failed');
  });
});

describe('measuring the output folder for its caps', () => {
  it('stops walking as soon as a cap is passed, and never follows a link', async () => {
    const dir = tempDataDir('bioreactor-measure-');
    await mkdir(join(dir, 'sub'));
    await Promise.all(Array.from({ length: 2000 }, (_, i) => writeFile(join(dir, 'sub', `f${i}`), 'abc')));
    symlinkSync('/usr', join(dir, 'usr'));
    expect(await measure(dir, { bytes: 1e9, entries: 1e6 })).toEqual({ bytes: 6000, entries: 2002 });
    expect(await measure(dir, { bytes: 1e9, entries: 100 })).toEqual({ bytes: 297, entries: 101 });
    const over = await measure(dir, { bytes: 30, entries: 1e6 });
    expect(over.bytes).toBe(33);
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    expect(await measure(join(dir, 'missing'), { bytes: 1, entries: 1 })).toEqual({ bytes: 0, entries: 0 });
  });
});
