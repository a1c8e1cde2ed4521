// `npx tsx bench/deploy-backup.ts [--experiments N] [--rows N]`: how long scripts/backup.sh and scripts/restore.sh
// take on an installation of a given size, with a process committing to the hub database during the backup (as the
// running hub does). Prints the figures; nothing is asserted.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const experiments = arg('experiments', 200);
const csvRows = arg('rows', 2000);

const root = mkdtempSync(join(tmpdir(), 'bioreactor-bench-backup-'));
try {
  // The node's data: one folder per experiment with a script, a CSV of csvRows rows and a log.
  const header =
    'timestamp,co2_ppm,temperature,od_voltages,eyespy_voltages,stirrer_duty,peltier_duty,peltier_direction\n';
  const row = '2026-01-25T20:35:11.103915,633.0,25.4,"[0.12,0.15,0.18]",[],30.0,0.0,forward\n';
  for (let i = 0; i < experiments; i++) {
    const dir = join(root, 'bioreactor-node-v3/data/experiments', `exp-${i}`, 'output');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '..', 'user_script.py'), 'from bioreactor_client import Bioreactor\n'.repeat(20));
    writeFileSync(join(dir, 'experiment_data.csv'), header + row.repeat(csvRows));
    writeFileSync(join(dir, 'container_logs.txt'), 'CO2: 633.0 ppm\n'.repeat(200));
  }
  mkdirSync(join(root, 'web-server/config'), { recursive: true });
  writeFileSync(join(root, 'web-server/config/dashboard_settings.json'), '{"update_interval":2}\n');

  // The hub's database: one row per experiment plus an event log, in WAL mode.
  const dbPath = join(root, 'bioreactor-hub/data/hub.db');
  mkdirSync(dirname(dbPath), { recursive: true });
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO events (body) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < experiments * 50; i++) insert.run(`event ${i} ${'x'.repeat(200)}`);
  })();
  db.close();

  const du = spawnSync('du', ['-sb', root], { encoding: 'utf8' }).stdout.split('\t')[0];
  const dataMb = Number(du) / 1e6;

  const writer = spawn(
    process.execPath,
    [
      '-e',
      `const db = new (require('better-sqlite3'))(process.argv[1]); db.pragma('journal_mode = WAL');
       const ins = db.prepare('INSERT INTO events (body) VALUES (?)'); let n = 0;
       setInterval(() => { ins.run('live ' + n++); }, 5);`,
      dbPath,
    ],
    { cwd: repoRoot, stdio: 'ignore' },
  );

  const out = join(root, 'backups');
  mkdirSync(out);
  let t = performance.now();
  const backup = spawnSync('bash', [join(repoRoot, 'scripts/backup.sh'), '--root', root, '--output', out], {
    encoding: 'utf8',
  });
  const backupS = (performance.now() - t) / 1000;
  writer.kill('SIGKILL');
  if (backup.status !== 0) throw new Error(`backup failed: ${backup.stderr}`);
  const archive = backup.stdout.trim();

  const target = join(root, 'restored');
  mkdirSync(target);
  t = performance.now();
  const restore = spawnSync('bash', [join(repoRoot, 'scripts/restore.sh'), '--root', target, '--no-stop', archive], {
    encoding: 'utf8',
  });
  const restoreS = (performance.now() - t) / 1000;
  if (restore.status !== 0) throw new Error(`restore failed: ${restore.stderr}`);

  console.log(`installation: ${experiments} experiments × ${csvRows} CSV rows, ${dataMb.toFixed(1)} MB`);
  console.log(
    `backup while a writer commits every 5 ms: ${backupS.toFixed(2)} s, archive ${(statSync(archive).size / 1e6).toFixed(1)} MB`,
  );
  console.log(`restore (check, safety copy, replace): ${restoreS.toFixed(2)} s`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
