// An experiment's labels as chips, and the form its owner edits notes and labels with.
import type { WebExperiment } from '@bioreactor/api';
import { type FormEvent, useState } from 'react';
import { call, client, errorText } from '../api.js';

export function Labels({ labels }: { labels: string[] | undefined }) {
  if (!labels || labels.length === 0) return null;
  return (
    <span className="labels" data-testid="labels">
      {labels.map((l) => (
        <span key={l} className="label-chip">
          {l}
        </span>
      ))}
    </span>
  );
}

export function NotesForm({ experiment, onSaved }: { experiment: WebExperiment; onSaved: () => void }) {
  const [notes, setNotes] = useState(experiment.notes ?? '');
  const [labels, setLabels] = useState((experiment.labels ?? []).join(', '));
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [busy, setBusy] = useState(false);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setMessage(undefined);
    try {
      const list = [
        ...new Set(
          labels
            .split(',')
            .map((l) => l.trim())
            .filter(Boolean),
        ),
      ];
      await call(
        client.POST('/api/experiments/{id}/annotations', {
          params: { path: { id: experiment.experiment_id } },
          body: { notes: notes.trim() || null, labels: list },
        }),
      );
      setMessage({ ok: true, text: 'Saved' });
      onSaved();
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="stack" onSubmit={save} data-testid="notes-form">
      <label>
        Notes
        <textarea
          rows={3}
          maxLength={5000}
          value={notes}
          onChange={(e) => setNotes(e.target.value)}
          data-testid="notes-input"
        />
      </label>
      <label>
        Labels <span className="muted small">(comma-separated, up to 10)</span>
        <input
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
          placeholder="E. coli, growth curve"
          data-testid="labels-input"
        />
      </label>
      <div className="row">
        <button type="submit" className="btn" disabled={busy} data-testid="notes-save">
          {busy ? 'Saving…' : 'Save notes and labels'}
        </button>
        {message && (
          <span role="status" className={message.ok ? 'check-ok' : 'inline-error'} data-testid="notes-message">
            {message.text}
          </span>
        )}
      </div>
    </form>
  );
}
