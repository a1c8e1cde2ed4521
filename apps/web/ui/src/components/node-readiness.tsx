// Whether a node can run experiments, in plain words with the reason: a node that cannot (no runner, a full disk,
// still starting, drained, offline) is never shown as green "ready".
import type { NodeInfo } from '@bioreactor/api';
import { formatTime } from '../format.js';

export interface Readiness {
  tone: 'ok' | 'warn' | 'bad' | 'idle';
  words: string;
  reason: string | null;
}

export function readinessOf(n: NodeInfo): Readiness {
  const reason = n.readiness_detail ?? n.detail ?? null;
  switch (n.readiness ?? (n.online ? (n.running_experiment ? 'busy' : 'ready') : 'offline')) {
    case 'ready':
      return { tone: 'ok', words: 'ready for the next experiment', reason: null };
    case 'busy':
      return { tone: 'ok', words: 'running an experiment', reason: null };
    case 'starting':
      return { tone: 'warn', words: 'starting up, not ready yet', reason };
    case 'drained':
      return {
        tone: 'idle',
        words: n.running_experiment
          ? 'drained: finishing its run, then takes no new ones'
          : 'drained: takes no new experiments',
        reason: null,
      };
    case 'runner_unavailable':
      return { tone: 'bad', words: 'cannot run experiments', reason };
    case 'storage_problem':
      return { tone: 'bad', words: 'cannot run experiments: its disk', reason };
    default:
      return {
        tone: 'bad',
        words: n.unreachable_since ? `not answering since ${formatTime(n.unreachable_since)}` : 'not answering',
        reason,
      };
  }
}

export function NodeReadiness({ node }: { node: NodeInfo }) {
  const r = readinessOf(node);
  return (
    <span className="readiness" data-testid="node-readiness" data-readiness={node.readiness ?? ''}>
      <span className={`dot dot-${r.tone}`} aria-hidden="true" /> <strong>{node.name}</strong> {r.words}
      {r.reason && <span className="muted small">({r.reason})</span>}
    </span>
  );
}
