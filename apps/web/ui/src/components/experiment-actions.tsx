// The buttons an experiment offers in its state: cancel, pause, resume, download; run now for admins.
import type { WebExperiment } from '@bioreactor/api';
import { useState } from 'react';
import { call, client, errorText } from '../api.js';

const CANCELLABLE = ['queued', 'running', 'paused'];

export function canDownload(e: WebExperiment): boolean {
  return !e.masked && e.started_at !== null && !['queued', 'paused'].includes(e.status);
}

export function ExperimentActions({
  experiment,
  isAdmin,
  onDone,
}: {
  experiment: WebExperiment;
  isAdmin: boolean;
  onDone?: () => void;
}) {
  const [busy, setBusy] = useState<string>();
  const [error, setError] = useState<string>();
  const e = experiment;
  if (e.masked && !isAdmin) return null;
  const act = async (verb: 'cancel' | 'pause' | 'resume' | 'run-now', confirmText?: string) => {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(verb);
    setError(undefined);
    try {
      await call(client.POST(`/api/experiments/{id}/${verb}`, { params: { path: { id: e.experiment_id } } }));
      onDone?.();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <div className="actions">
      {e.status === 'paused' && (
        <button type="button" className="btn btn-small" disabled={!!busy} onClick={() => act('resume')}>
          Resume
        </button>
      )}
      {e.status === 'queued' && (
        <button type="button" className="btn btn-small" disabled={!!busy} onClick={() => act('pause')}>
          Pause
        </button>
      )}
      {isAdmin && ['queued', 'paused'].includes(e.status) && (
        <button
          type="button"
          className="btn btn-small"
          disabled={!!busy}
          onClick={() => act('run-now', 'Run this experiment next? A running experiment is cancelled.')}
        >
          Run now
        </button>
      )}
      {CANCELLABLE.includes(e.status) && (
        <button
          type="button"
          className="btn btn-small btn-danger"
          disabled={!!busy}
          data-testid="action-cancel"
          onClick={() =>
            act('cancel', e.status === 'running' ? 'Stop this running experiment? Its data so far is kept.' : undefined)
          }
        >
          {busy === 'cancel' ? 'Cancelling…' : e.status === 'running' ? 'Stop' : 'Cancel'}
        </button>
      )}
      {canDownload(e) && (
        <a
          className="btn btn-small"
          href={`/experiment/${encodeURIComponent(e.experiment_id)}/download`}
          data-testid="action-download"
          download
        >
          Download
        </a>
      )}
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
