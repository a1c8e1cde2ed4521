// How long each measurement runs: --quick keeps the whole run under a minute; the full run gives steadier figures.

export interface Profile {
  name: 'quick' | 'full';
  idleWindowMs: number;
  httpDurationMs: number;
  httpConcurrency: number;
  pythonIterations: number;
  sseWindowMs: number;
  queueRounds: number;
  csvRows: number;
  /** Rows of the CSV whose whole-run chart (the node's min/max summary) is measured. */
  seriesRows: number;
  dashboardUpdates: number;
  wholeFileRereads: number;
  liveClients: number;
  liveWindowMs: number;
  /** GET /api/queue/status requests with 1,000 queued. */
  statusRequests: number;
  /** Experiments started with the Docker runner. */
  dockerRuns: number;
  /** Real-mode nodes killed with SIGKILL, timing their heater off. */
  nodeKillRounds: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  quick: {
    name: 'quick',
    idleWindowMs: 3000,
    httpDurationMs: 2000,
    httpConcurrency: 8,
    pythonIterations: 100,
    sseWindowMs: 4000,
    queueRounds: 2,
    // A tenth of the full run's file: parsing 1,000,000 rows once costs seconds, more than a quick run can spend.
    csvRows: 100_000,
    seriesRows: 400_000,
    dashboardUpdates: 30,
    wholeFileRereads: 1,
    liveClients: 1000,
    liveWindowMs: 6000,
    statusRequests: 100,
    dockerRuns: 3,
    nodeKillRounds: 3,
  },
  full: {
    name: 'full',
    idleWindowMs: 10_000,
    httpDurationMs: 10_000,
    httpConcurrency: 16,
    pythonIterations: 500,
    sseWindowMs: 20_000,
    queueRounds: 8,
    csvRows: 1_000_000,
    // The long run: 46 days of one row a second.
    seriesRows: 4_000_000,
    dashboardUpdates: 200,
    wholeFileRereads: 5,
    liveClients: 1000,
    liveWindowMs: 20_000,
    statusRequests: 400,
    dockerRuns: 10,
    nodeKillRounds: 10,
  },
};
