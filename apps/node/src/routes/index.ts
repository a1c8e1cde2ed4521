// Every route plugin of the node, registered explicitly.
import { type ExperimentLimits, nodeRoutes, SYSTEM_VERSION } from '@bioreactor/api';
import type { Service } from '@bioreactor/service-kit';
import type { NodeConfig } from '../config.js';
import { CsvWatch } from '../experiments/csv-watch.js';
import { SeriesCache } from '../experiments/series.js';
import type { Hardware } from '../hardware/index.js';
import type { ProgramExecutor } from '../programs/executor.js';
import { NodeStream } from '../stream.js';
import { registerClockRoute } from './clock.js';
import { type ExperimentRouteDeps, registerExperimentRoutes } from './experiments.js';
import { registerHardwareRoutes } from './hardware.js';
import { registerProgramRoutes } from './programs.js';
import { type ExperimentStatusProvider, registerStatusRoutes } from './status.js';

export interface RouteDeps {
  experiments?: ExperimentRouteDeps;
  hardware?: Hardware;
  /** The node's program executor (app.ts); created with the routes when absent. */
  programs?: ProgramExecutor;
  experimentStatus?: () => ExperimentStatusProvider | undefined;
  /** Present on a simulation twin: what /api/status advertises for pre-flights (experiments/preflight.ts). */
  twin?: ExperimentLimits['twin'];
}

export async function registerRoutes(app: Service, config: NodeConfig, deps: RouteDeps = {}): Promise<void> {
  // One watcher of the running run's CSV files for the whole node: it feeds the stream's run.rows and the series.
  let rows: { csv: CsvWatch; series: SeriesCache } | undefined;
  let stream: NodeStream | undefined;
  const experiments = deps.experiments;
  if (experiments) {
    const series: { cache?: SeriesCache } = {};
    const csv = new CsvWatch({
      store: experiments.store,
      runs: experiments.manager,
      onRows: (chunk) => stream?.publishRows(chunk),
      onEnd: (id, file, entry) => series.cache?.put(id, file, entry),
      log: app.log,
    });
    series.cache = new SeriesCache(experiments.store, csv);
    rows = { csv, series: series.cache };
  }
  if (deps.hardware) {
    stream = new NodeStream({ hardware: deps.hardware, manager: experiments?.manager });
    await stream.start();
    const started = stream;
    app.addHook('onClose', async () => started.stop());
    // A simulation twin says so: the hub sends pre-flights (time_scale) only to such a node.
    const twin = deps.twin;
    await registerStatusRoutes(app, deps.hardware, deps.experimentStatus ?? (() => undefined), {
      max_duration_s: config.BIOREACTOR_EXPERIMENT_MAX_DURATION_S,
      ...(twin ? { twin } : {}),
    });
    await registerHardwareRoutes(app, deps.hardware, { source: 'api', faultInjection: true, stream });
    registerClockRoute(app, deps.hardware.clock);
    await registerProgramRoutes(app, config, deps.hardware, deps.experimentStatus, deps.programs);
  } else {
    registerHealthOnly(app, config);
  }
  if (experiments && rows) {
    const { csv } = rows;
    csv.start();
    app.addHook('onClose', async () => csv.stop());
    await registerExperimentRoutes(app, { ...experiments, series: rows.series });
  }
}

function registerHealthOnly(app: Service, config: NodeConfig): void {
  const mode = config.HARDWARE_MODE ?? 'simulation';
  app.route({
    ...nodeRoutes.health,
    handler: async () => ({
      status: 'healthy' as const,
      version: SYSTEM_VERSION,
      hardware_mode: mode,
      hardware_available: false,
      initialized_components: {},
      component_count: 0,
      ready: true,
      waiting_for: [],
    }),
  });
}
