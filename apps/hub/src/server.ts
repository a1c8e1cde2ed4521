// Starts the hub: the only file that reads process.env, listens and handles signals.
import { runService } from '@bioreactor/service-kit';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { DatabaseFileError } from './queue/store.js';

const NAME = 'bioreactor-hub';

await runService(NAME, async () => {
  const config = loadConfig(process.env);
  try {
    return { app: await buildApp(config), port: config.PORT, host: config.HOST };
  } catch (err) {
    // A queue database that is empty, damaged or unreadable: one line naming the file and how to restore it,
    // not a stack trace, and no start with an empty queue that would look like a fresh one.
    if (err instanceof DatabaseFileError) {
      process.stderr.write(`${NAME}: not started: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
});
