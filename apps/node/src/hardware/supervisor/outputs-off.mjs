// Turns the node's known outputs off by writing their sysfs files. Shared by the output supervisor (supervisor.mjs,
// a process of its own) and the node's start-up, so both make exactly the same writes. Plain Node.js, synchronous,
// never throws: every output is tried even when another fails.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} path */
function read(path) {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** @param {string} path @param {string} value @returns {string | null} why it failed */
function write(path, value) {
  try {
    writeFileSync(path, value);
    return null;
  } catch (err) {
    return `${path}: ${/** @type {Error} */ (err).message}`;
  }
}

/**
 * PWM channels first (duty_cycle 0, then enable 0), so the power stops before any direction line moves; then each
 * GPIO line to its safe level. A channel or line that is not exported drives nothing and is only reported as missing.
 * @param {import('./outputs-off.d.mts').GuardedOutput[]} outputs
 * @returns {import('./outputs-off.d.mts').OffReport}
 */
export function turnOutputsOff(outputs) {
  /** @type {import('./outputs-off.d.mts').OffReport} */
  const report = { off: [], wasOn: [], failed: [], missing: [] };
  const ordered = [...outputs.filter((o) => o.kind === 'pwm'), ...outputs.filter((o) => o.kind === 'gpio')];
  for (const output of ordered) {
    const name = `${output.component} ${output.path}`;
    if (!existsSync(output.path)) {
      report.missing.push(name);
      continue;
    }
    if (output.kind === 'pwm') {
      const duty = read(join(output.path, 'duty_cycle'));
      const enabled = read(join(output.path, 'enable'));
      const dutyError = write(join(output.path, 'duty_cycle'), '0');
      const enableError = write(join(output.path, 'enable'), '0');
      if (enabled !== '0' && duty !== '0' && duty !== null) report.wasOn.push(`${name} (duty_cycle ${duty} ns)`);
      // Either write stops the output: duty 0 holds it low, a disabled channel drives nothing.
      if (dutyError && enableError) report.failed.push(`${dutyError}; ${enableError}`);
      else report.off.push(name);
    } else {
      const safe = output.safe === 1 ? '1' : '0';
      const value = read(join(output.path, 'value'));
      const error = write(join(output.path, 'value'), safe);
      if (value !== safe && value !== null) report.wasOn.push(`${name} (value ${value})`);
      if (error) report.failed.push(error);
      else report.off.push(name);
    }
  }
  return report;
}
