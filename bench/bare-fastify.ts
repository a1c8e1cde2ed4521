// The floor the node's figures are read against: a bare Fastify server (no auth hook, no error handler, no hardware)
// with one GET and one schema-validated POST route, in a process of its own. Prints its port when it listens.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/bare', async () => ({ status: 'success', value: 1 }));
app.post(
  '/bare',
  {
    schema: {
      body: {
        type: 'object',
        properties: { duty_cycle: { type: 'number', minimum: 0, maximum: 100 } },
        required: ['duty_cycle'],
      },
    },
  },
  async (request) => ({ status: 'success', duty_cycle: (request.body as { duty_cycle: number }).duty_cycle }),
);
const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`${address}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
