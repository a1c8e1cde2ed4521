// The only place that listens and handles signals: start a built app, close it gracefully on SIGINT/SIGTERM.
import type { FastifyInstance } from 'fastify';
import { ConfigError } from './env.js';

export async function runService(
  name: string,
  build: () => Promise<{ app: FastifyInstance; port: number; host: string }>,
): Promise<void> {
  let built: Awaited<ReturnType<typeof build>>;
  try {
    built = await build();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const { app, port, host } = built;
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    try {
      await app.close();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));
  try {
    await app.listen({ port, host });
  } catch (err) {
    app.log.fatal({ err }, `cannot listen on ${host}:${port}`);
    process.exit(1);
  }
}
