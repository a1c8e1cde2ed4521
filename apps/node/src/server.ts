// Starts the node: the only file that reads process.env, listens and handles signals.
import { runService } from '@bioreactor/service-kit';
import { buildApp } from './app.js';
import { DEFAULT_DATA_DIR, loadConfig } from './config.js';
import { turnOffLastKnownOutputs } from './hardware/supervisor/index.js';

// First, before the environment and the hardware file are read (either may be invalid and end the start): every
// output the last run knew goes off, so a heater left on by a node killed with its supervisor is not left on by a
// start that fails. docs/hardware.md, "When the node dies".
const off = turnOffLastKnownOutputs(process.env.DATA_DIR || DEFAULT_DATA_DIR);
if (off && (off.wasOn.length > 0 || off.failed.length > 0))
  process.stderr.write(
    `bioreactor-node: start-up turned off the outputs the last run left on (${off.file}): ${off.wasOn.join(', ') || 'none'}${
      off.failed.length > 0 ? `; FAILED: ${off.failed.join('; ')}` : ''
    }\n`,
  );

await runService('bioreactor-node', async () => {
  const config = loadConfig(process.env);
  return { app: await buildApp(config), port: config.PORT, host: config.HOST };
});
