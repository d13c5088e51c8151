import { useState } from 'react';
import { messageOf, post } from '../api.ts';
import type { TaskView } from '../types.ts';

interface Action {
  id: string;
  label: string;
  confirm: string;
  run: (comment: string) => Promise<unknown>;
  comment?: boolean;
}

/** The actions the API allows in the run's state; each asks first, and shows the API's refusal as it is. */
export function Actions({ task, onDone }: { task: TaskView; onDone: () => void }) {
  const [pending, setPending] = useState<Action | null>(null);
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = task.task_id;
  const waiting = task.steps.find((s) => s.status === 'waiting');

  const actions: Action[] = [];
  if (task.status === 'planned' || task.status === 'scheduled')
    actions.push({ id: 'execute', label: 'Run', confirm: `Run this ${task.status} task now?`, run: () => post(`/execute/${id}`) });
  if (waiting) {
    // What a rejection does depends on the step: its on_rejection branch, else the step fails (on_failure decides).
    const rejection = task.plan.steps.find((s) => s.id === waiting.id)?.on_rejection;
    const after = {
      approve: 'The steps after it run (its approval branch decides which).',
      reject: rejection
        ? 'Its rejection branch is taken.'
        : 'It has no rejection branch: the step fails, and the steps it gates do not run.',
    };
    for (const verb of ['approve', 'reject'] as const) {
      actions.push({
        id: verb,
        label: verb === 'approve' ? `Approve ${waiting.id}` : `Reject ${waiting.id}`,
        confirm: `${verb === 'approve' ? 'Approve' : 'Reject'} step ${waiting.id}? ${after[verb]}`,
        comment: true,
        run: (text) => post(`/tasks/${id}/${verb}`, { step_id: waiting.id, ...(text ? { comment: text } : {}) }),
      });
    }
  }
  if (task.status === 'failed')
    actions.push({ id: 'resume', label: 'Resume', confirm: 'Resume this run from its last checkpoint?', run: () => post(`/resume/${id}`) });
  if (task.status === 'planned' || task.status === 'scheduled' || task.status === 'running' || task.status === 'waiting') {
    actions.push({
      id: 'cancel',
      label: 'Cancel run',
      confirm: 'Cancel this run? Steps in flight are stopped.',
      run: () => post(`/tasks/${id}/cancel`, { reason: 'cancelled in the run viewer' }),
    });
  }
  if (actions.length === 0) return null;

  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    try {
      await pending.run(comment.trim());
      setError(null);
      setPending(null);
      setComment('');
      onDone();
    } catch (err) {
      setError(`${pending.label} was refused: ${messageOf(err)}`);
      setPending(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="actions">
      {!pending &&
        actions.map((a) => (
          <button
            key={a.id}
            type="button"
            className={a.id === 'cancel' || a.id === 'reject' ? 'danger' : ''}
            onClick={() => setPending(a)}
            data-action={a.id}
          >
            {a.label}
          </button>
        ))}
      {pending && (
        <div className="confirm card" role="group" aria-labelledby="confirm-text">
          <p id="confirm-text">{pending.confirm}</p>
          {pending.comment && (
            <>
              <label htmlFor="answer-comment">Comment (optional)</label>
              <textarea id="answer-comment" value={comment} onChange={(e) => setComment(e.target.value)} rows={2} />
            </>
          )}
          <button type="button" onClick={() => void confirm()} disabled={busy} data-confirm={pending.id}>
            Yes, {pending.label.toLowerCase()}
          </button>
          <button type="button" onClick={() => setPending(null)} disabled={busy}>
            No
          </button>
        </div>
      )}
      {error && (
        <p className="error" role="alert" data-testid="action-error">
          {error}
        </p>
      )}
    </div>
  );
}
