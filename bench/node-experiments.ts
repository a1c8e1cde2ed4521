// Experiment start and end latency on the node alone: `npx tsx bench/node-experiments.ts [runs] [--local]`.
// The same measurement is the `experiments` section of `npm run bench` (bench/lib/docker-experiments.ts).
import { benchExperimentStart } from './lib/docker-experiments.js';
import { Report } from './lib/report.js';

const args = process.argv.slice(2);
const runs = Number(args.find((a) => /^\d+$/.test(a)) ?? 10);
await benchExperimentStart(new Report(), runs, args.includes('--local') ? 'local' : 'docker');
