// Starts the web server: the only file that reads process.env, listens and handles signals.
import { runService } from '@bioreactor/service-kit';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { StartupRefused } from './startup-refused.js';

const NAME = 'bioreactor-web-server';

await runService(NAME, async () => {
  const config = loadConfig(process.env);
  try {
    return { app: await buildApp(config), port: config.PORT, host: config.HOST };
  } catch (err) {
    // A data file it cannot trust: one message saying which and how to restore it, not a stack trace.
    if (err instanceof StartupRefused) {
      process.stderr.write(`${NAME}: not started: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
});
