#!/usr/bin/env node
// The hardware self-test: asks a running node what it found and what each component reads now, and prints one line
// per component. Plain Node.js with no dependencies, so it runs on the Pi, in the node's container and on a laptop:
//
//   docker compose exec bioreactor-node node apps/node/bin/hardware-check.mjs
//   node apps/node/bin/hardware-check.mjs http://raspberrypi.local:9000
//
// Exit status: 0 when every component the hardware file enables is working, 1 when one is unavailable or its reading
// is an error (each says why), 2 when the node does not answer. BIOREACTOR_API_TOKEN is sent when set.
const base = (process.argv[2] ?? `http://127.0.0.1:${process.env.PORT ?? 9000}`).replace(/\/+$/, '');
const headers = process.env.BIOREACTOR_API_TOKEN ? { authorization: `Bearer ${process.env.BIOREACTOR_API_TOKEN}` } : {};

async function get(path) {
  const res = await fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${path} answered HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

/** A component's reading or setting in a few words. */
function describe(state) {
  if (!state) return '';
  if (state.status === 'error') return `error: ${state.message}`;
  const parts = [];
  for (const [key, value] of Object.entries(state)) {
    if (['status', 'message', 'timestamp', 'unit', 'channels'].includes(key) || value === null) continue;
    if (typeof value === 'number') parts.push(`${key} ${Number.isInteger(value) ? value : value.toFixed(3)}`);
    else if (typeof value === 'boolean' || typeof value === 'string') parts.push(`${key} ${value}`);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'number' || v === null)) {
      const named = Array.isArray(state.channels) ? state.channels : [];
      parts.push(`${key} ${value.map((v, i) => `${named[i] ?? i}=${v === null ? '–' : v.toFixed(3)}`).join(' ')}`);
    }
  }
  return `${parts.slice(0, 6).join(', ')}${state.unit ? ` (${state.unit})` : ''}`;
}

let status;
let states;
try {
  // A node that has just started answers `starting` until every sensor has a first reading (a few seconds).
  for (let i = 0; i < 20; i++) {
    status = await get('/api/status');
    if (status.status !== 'starting') break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  states = (await get('/api/v3/state')).components ?? {};
} catch (err) {
  console.error(`hardware-check: the node at ${base} did not answer: ${err.message}`);
  process.exit(2);
}

console.log(`node ${base}: ${status.hardware_mode} hardware, version ${status.version}`);
let failed = 0;
const names = Object.keys(status.initialized_components ?? {}).sort();
const width = Math.max(...names.map((n) => n.length));
for (const name of names) {
  const why = status.unavailable_components?.[name];
  const disabled = why !== undefined && /disabled in the hardware file/.test(why);
  let line;
  if (status.initialized_components[name]) {
    const state = states[name];
    const problem = state?.status === 'error';
    if (problem) failed += 1;
    line = `${problem ? 'FAIL' : 'ok  '}  ${name.padEnd(width)}  ${describe(state)}`;
  } else if (disabled) {
    line = `off   ${name.padEnd(width)}  ${why}`;
  } else {
    failed += 1;
    line = `FAIL  ${name.padEnd(width)}  ${why ?? 'unavailable'}`;
  }
  console.log(line);
}
if (status.storage?.problem) console.log(`disk: ${status.storage.problem}`);
console.log(failed === 0 ? 'every enabled component works' : `${failed} component(s) need attention (see above)`);
process.exit(failed === 0 ? 0 : 1);
