// GET /api/events: Server-Sent Events of experiment, queue and node changes (the web server's live view).
import { EVENT_TYPES, hubRoutes, type NodeInfo } from '@bioreactor/api';
import { openEventStream, type Service } from '@bioreactor/service-kit';
import type { Hub } from '../hub.js';
import type { NodeEntry } from '../nodes/registry.js';
import type { ExperimentSummary } from '../queue/queue.js';
import { viewerOf } from './identity.js';

/** queue.updated is a whole summary; a burst of changes sends one. */
const QUEUE_SUMMARY_MIN_INTERVAL_MS = 200;

export async function eventRoutes(app: Service, hub: Hub): Promise<void> {
  app.route({
    ...hubRoutes.events,
    handler: async (request, reply) => {
      const viewer = viewerOf(request);
      const stream = openEventStream(request, reply);
      let seq = 0;
      let summaryTimer: NodeJS.Timeout | undefined;
      let lastSummary = 0;
      const sendSummary = () => {
        summaryTimer = undefined;
        lastSummary = performance.now();
        stream.send(EVENT_TYPES.queueUpdated, hub.views.queueStatus(viewer), ++seq);
      };
      const scheduleSummary = () => {
        if (summaryTimer) return;
        // Monotonic: a wall-clock step must not hold summaries back.
        const wait = Math.max(0, lastSummary + QUEUE_SUMMARY_MIN_INTERVAL_MS - performance.now());
        summaryTimer = setTimeout(sendSummary, wait);
      };
      const onExperiment = (row: ExperimentSummary) => {
        if (viewer.admin || viewer.userId === row.user_id) {
          stream.send(EVENT_TYPES.experimentUpdated, { experiment: hub.views.experiment(row, viewer) }, ++seq);
        }
        scheduleSummary();
      };
      const onNode = (entry: NodeEntry) => {
        const info: NodeInfo = hub.registry.info(entry);
        stream.send(EVENT_TYPES.nodeUpdated, info, ++seq);
        scheduleSummary();
      };
      const onSwept = () => scheduleSummary();
      hub.queue.on('experiment', onExperiment);
      hub.queue.on('swept', onSwept);
      hub.registry.on('node', onNode);
      stream.onClose(() => {
        clearTimeout(summaryTimer);
        hub.queue.off('experiment', onExperiment);
        hub.queue.off('swept', onSwept);
        hub.registry.off('node', onNode);
      });
      sendSummary();
      for (const n of hub.registry.list()) stream.send(EVENT_TYPES.nodeUpdated, hub.registry.info(n), ++seq);
    },
  });
}
