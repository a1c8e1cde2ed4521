// Starts the hub: the only file that reads process.env, listens and handles signals.
import { runService } from '@bioreactor/service-kit';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';

await runService('bioreactor-hub', async () => {
  const config = loadConfig(process.env);
  return { app: await buildApp(config), port: config.PORT, host: config.HOST };
});
