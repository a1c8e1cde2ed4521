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
  /**
   * Node stream (and the hub's relay of it): new whole CSV rows of the running experiment, pushed when the file
   * grows (a file watch) `{experiment_id, file, offset, next_offset, text, at_ms}`; `text` is whole lines, the first
   * chunk of a file starts with its header.
   */
  runRows: 'run.rows',
  /** Hub relay of a node's stream: the hub's connection to that node opened or broke `{node, connected, reason}`. */
  nodeStream: 'node.stream',
  /**
   * Web stream (`GET /api/stream`, one per browser): a reactor's whole state for a panel
   * `{node, sample, history, safety, experiment, source, connected, rows_visible}`, sent first and after any gap.
   */
  liveSnapshot: 'live.snapshot',
  /** Web stream: the newest sensor readings of every reactor, at most one event per `update_interval` `{samples}`. */
  liveSamples: 'live.samples',
  /** Web stream: an actuator changed on a reactor, sent at once `{node, component, state, at_ms}`. */
  liveChanged: 'live.changed',
  /** Web stream: new CSV rows of a reactor's running experiment, to viewers who may see them `{node, experiment_id, rows}`. */
  liveRows: 'live.rows',
  /** Web stream: a reactor's safety interlocks changed `{node, interlocks}`. */
  liveSafety: 'live.safety',
  /** Web stream: a source's health changed `{hub: {connected}, nodes: [{node, connected, reason, last_event_ms}]}`. */
  liveStatus: 'live.status',
} as const);
export type EventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/** Milliseconds a browser waits before reconnecting (`retry:` field). */
export const SSE_RETRY_MS = 3000;
/** Comment heartbeat interval, under common proxy idle timeouts. */
export const SSE_HEARTBEAT_MS = 15000;
