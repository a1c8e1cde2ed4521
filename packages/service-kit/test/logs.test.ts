// What a service logs: JSON lines with ISO times; each request at debug, so that the services' polls of each other
// leave nothing at info; a refused request at info with its catalogue code.
import { ApiError } from '@bioreactor/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../src/service.js';

let app: Service | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function logged(logLevel: string, urls: string[]): Promise<{ level: number; time: string; msg: string }[]> {
  const lines: string[] = [];
  app = await createService({
    name: 't',
    version: '1',
    description: 't',
    logLevel,
    apiToken: false,
    logStream: { write: (line) => lines.push(line) },
  });
  app.get('/api/poll', async () => ({ ok: true }));
  app.get('/api/refuse', async () => {
    throw new ApiError('INVALID_STATE', 'not now');
  });
  for (const url of urls) await app.inject({ url });
  return lines.map((l) => JSON.parse(l) as { level: number; time: string; msg: string });
}

describe('logs', () => {
  it('at info: no line for a request that succeeds, one for a refused one, with ISO times', async () => {
    const lines = await logged('INFO', ['/api/poll', '/api/poll', '/api/poll', '/api/refuse']);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[30, 'request refused']]);
    expect(lines[0]?.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('at debug: each request, as it comes and when it is answered', async () => {
    const lines = await logged('DEBUG', ['/api/poll']);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [20, 'incoming request'],
      [20, 'request completed'],
    ]);
  });
});
