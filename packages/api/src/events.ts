// Server-Sent Event types: dotted lowercase names, one payload shape each. Clients ignore unknown types.

export const EVENT_TYPES = Object.freeze({
  /** Node: a sensor's new cached sample `{component, state}`. */
  componentSample: 'component.sample',
  /** Node: an actuator changed `{component, state, source}`. */
  componentChanged: 'component.changed',
  /** Node: a run changed state `{experiment: RunRecord}`. */
  runUpdated: 'run.updated',
  /** Node/hub: new log text of a run `{experiment_id, text}`. */
  runLog: 'run.log',
  /** Node/hub: new CSV bytes of a run `{experiment_id, offset, next_offset, text}`. */
  runData: 'run.data',
  /** Hub: an experiment changed `{experiment: HubExperiment}`. */
  experimentUpdated: 'experiment.updated',
  /** Hub: the queue summary changed `QueueStatus`. */
  queueUpdated: 'queue.updated',
  /** Hub: a node went online/offline or changed `NodeInfo`. */
  nodeUpdated: 'node.updated',
  /** Web live data: the first event of a connection, with recent history `{sample, history, settings}`. */
  snapshot: 'snapshot',
  /** Web live data: one new point `LiveSample`. */
  sample: 'sample',
  /**
   * Node stream and web live data: the hardware's safety interlocks in force changed `{interlocks: string[]}`
   * (empty: none). The node sends it first on connecting, then at every change.
   */
  safety: 'safety',
} as const);
export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/** Milliseconds a browser waits before reconnecting (`retry:` field). */
export const SSE_RETRY_MS = 3000;
/** Comment heartbeat interval, under common proxy idle timeouts. */
export const SSE_HEARTBEAT_MS = 15000;
