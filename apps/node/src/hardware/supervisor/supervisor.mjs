// The output supervisor: a small process the node starts in real mode (index.ts next to this file), in a session of
// its own and outside the node's event loop, that turns the actuators off when the node dies or hangs.
//
// stdin, from the node: one JSON line of configuration ({outputs, timeout_ms, watchdog_device, pid_file}), then one
// line per heartbeat, and "stop" once the node has shut down cleanly (the node's own stop already turned everything
// off, so the supervisor then exits without writing anything). It acts when
//   - stdin ends without "stop": the node exited, however (the kernel closes its end of the pipe even on SIGKILL);
//   - no heartbeat came for timeout_ms: the node's event loop is blocked, or the process is stopped;
//   - it receives SIGTERM or SIGINT, or fails itself.
// Acting: duty_cycle 0 and enable 0 on every PWM channel it knows, each direction line to its safe level; then one
// line on stderr saying what it did, and exit. Plain Node.js, no dependencies. See docs/hardware.md, "When the node
// dies".
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { turnOutputsOff } from './outputs-off.mjs';

/** @type {{ outputs: import('./outputs-off.d.mts').GuardedOutput[], timeout_ms: number, watchdog_device?: string | null, pid_file?: string | null } | null} */
let config = null;
let lastHeartbeat = performance.now();
let pending = '';
let finished = false;
/** @type {number | null} */
let watchdog = null;
/** @type {NodeJS.Timeout | undefined} */
let timer;

// A closed log (the node's stderr reader gone) must not stop the supervisor before it has acted.
process.stderr.on('error', () => {});

/** A pino-shaped JSON line, like the node's own log. @param {number} level @param {string} msg @param {object} [extra] */
function log(level, msg, extra = {}) {
  const line = { level, time: Date.now(), pid: process.pid, hostname: hostname(), name: 'bioreactor-node-supervisor' };
  try {
    process.stderr.write(`${JSON.stringify({ ...line, ...extra, msg })}\n`);
  } catch {}
}

/** The Pi's watchdog (bcm2835-wdt) resets the board unless written to; a write of "V" before closing disarms it. */
function openWatchdog(device) {
  try {
    // No O_CREAT: a wrong path must not create a file under /dev.
    watchdog = openSync(device, constants.O_WRONLY | constants.O_APPEND);
    writeSync(watchdog, '.');
    log(30, `hardware watchdog ${device} armed: if this supervisor dies or the system hangs, the Pi resets`);
  } catch (err) {
    watchdog = null;
    log(50, `cannot open the hardware watchdog ${device} (${err.message}): running without it`);
  }
}

function petWatchdog() {
  if (watchdog === null) return;
  try {
    writeSync(watchdog, '.');
  } catch (err) {
    log(50, `writing the hardware watchdog failed: ${err.message}`);
  }
}

/** @param {boolean} disarm false leaves it armed, so the board resets when it runs out */
function closeWatchdog(disarm) {
  if (watchdog === null) return;
  try {
    if (disarm) writeSync(watchdog, 'V');
    closeSync(watchdog);
  } catch {}
  watchdog = null;
}

function removePidFile() {
  const file = config?.pid_file;
  if (!file) return;
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
  } catch {}
}

/**
 * Ends the supervisor; with `act`, first turns every known output off. Outputs that could not be turned off leave
 * the hardware watchdog armed (if there is one), so the board resets, and RP1 with it, within its timeout.
 * @param {string} reason @param {boolean} act
 */
function finish(reason, act) {
  if (finished) return;
  finished = true;
  clearInterval(timer);
  let ok = true;
  if (act && config) {
    const report = turnOutputsOff(config.outputs);
    ok = report.failed.length === 0;
    const what = `${report.off.length} outputs off${report.wasOn.length > 0 ? `, of which on: ${report.wasOn.join(', ')}` : ''}`;
    log(ok ? 50 : 60, `${reason}: ${what}${ok ? '' : `; FAILED: ${report.failed.join('; ')}`}`, {
      reason,
      ...report,
    });
  } else if (act) {
    log(50, `${reason}: no outputs known yet, nothing to turn off`);
  }
  if (watchdog !== null && !ok) log(60, 'leaving the hardware watchdog armed: the Pi resets when it runs out');
  closeWatchdog(ok);
  removePidFile();
  process.exit(ok ? 0 : 1);
}

/** @param {string} line */
function onLine(line) {
  if (config === null) {
    const parsed = JSON.parse(line);
    if (!Array.isArray(parsed.outputs) || !(parsed.timeout_ms >= 100))
      throw new Error('the first line must be {"outputs": [...], "timeout_ms": >= 100}');
    config = parsed;
    lastHeartbeat = performance.now();
    if (config.pid_file) writeFileSync(config.pid_file, `${process.pid}\n`);
    if (config.watchdog_device) openWatchdog(config.watchdog_device);
    const every = Math.max(20, Math.min(250, config.timeout_ms / 5));
    timer = setInterval(check, every);
    return;
  }
  // The node's own stop turned the outputs off: nothing to do, nothing to say.
  if (line === 'stop') finish('the node stopped cleanly', false);
  else lastHeartbeat = performance.now();
}

function check() {
  if (config === null) return;
  const silent = performance.now() - lastHeartbeat;
  if (silent > config.timeout_ms)
    finish(
      `no heartbeat from the node for ${Math.round(silent)} ms (bound ${config.timeout_ms} ms): its event loop is blocked or it is stopped`,
      true,
    );
  else petWatchdog();
}

process.on('uncaughtException', (err) => finish(`supervisor error: ${err.message}`, true));
process.on('SIGTERM', () => finish('received SIGTERM', true));
process.on('SIGINT', () => finish('received SIGINT', true));
// No terminal to hang up (it runs in a session of its own); a stray SIGHUP must not end the guard.
process.on('SIGHUP', () => {});

process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  pending += chunk;
  let end = pending.indexOf('\n');
  while (end >= 0 && !finished) {
    const line = pending.slice(0, end).trim();
    pending = pending.slice(end + 1);
    if (line) onLine(line);
    end = pending.indexOf('\n');
  }
});
const gone = () => finish('the node is gone (its end of the pipe closed without "stop")', true);
process.stdin.on('end', gone);
process.stdin.on('error', gone);
