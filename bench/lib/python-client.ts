// The Python client's measure_all_data (one batched request) next to one request per component, against the node.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import { summarize } from './stats.js';
import { repoRoot, type ServiceProcess } from './system.js';

const SCRIPT = `
import json, sys, time
from bioreactor_client import Bioreactor, measure_all_data

n = int(sys.argv[1])
def per_component(b):
    # What a script did before the batched state: one request per value it logs.
    return [b.get_co2(), b.get_temperature(), b.get_od_voltages(), b.get_eyespy_voltages(),
            b.get_stirrer_state(), b.get_peltier_state()]

with Bioreactor(handle_sigterm=False) as b:
    for f in (lambda: measure_all_data(b), lambda: per_component(b)):
        for _ in range(10):
            f()
    batched, separate = [], []
    for _ in range(n):
        t = time.perf_counter(); measure_all_data(b); batched.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter(); per_component(b); separate.append((time.perf_counter() - t) * 1000)
print(json.dumps({"batched": batched, "separate": separate}))
`;

export async function benchPythonClient(
  report: Report,
  node: ServiceProcess,
  profile: Profile,
  token: string | undefined,
): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PYTHONPATH: join(repoRoot, 'python', 'src'),
    BIOREACTOR_NODE_API_URL: node.url,
    OUTPUT_DIR: node.env.DATA_DIR,
  };
  if (token) env.BIOREACTOR_API_TOKEN = token;
  const out = await new Promise<string>((resolveOut, reject) => {
    const child = spawn('python3', ['-c', SCRIPT, String(profile.pythonIterations)], { env, cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveOut(stdout) : reject(new Error(`python3 exited ${code}: ${stderr}`)),
    );
  });
  const { batched, separate } = JSON.parse(out) as { batched: number[]; separate: number[] };
  const a = summarize(batched);
  const b = summarize(separate);
  const section = 'Python client round trip';
  report.add(section, 'measure_all_data (1 request): p50', a.p50, 'ms');
  report.add(section, 'measure_all_data (1 request): p99', a.p99, 'ms');
  report.add(section, 'one request per component (6 requests): p50', b.p50, 'ms', 'the old way');
  report.add(section, 'one request per component (6 requests): p99', b.p99, 'ms');
  report.add(section, 'speed-up of measure_all_data at p50', b.p50 / a.p50, '×');
}
