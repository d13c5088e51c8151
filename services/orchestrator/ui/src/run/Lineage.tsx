import { useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { messageOf, post } from '../api.ts';
import { when } from '../format.ts';
import { StatusBadge } from '../StatusBadge.tsx';
import { finalStatuses, type TaskView } from '../types.ts';

/**
 * Where a run comes from and what came of it: the run it was forked from, its own forks (each
 * with a comparison), and, once it has finished, a form to fork it from a step.
 */
export function Lineage({ task }: { task: TaskView }) {
  const forks = task.forks ?? [];
  const parent = task.forked_from;
  const finished = finalStatuses.has(task.status);
  if (!parent && forks.length === 0 && !finished) return null;
  return (
    <section className="lineage" aria-labelledby="lineage-heading">
      <h2 id="lineage-heading">Lineage</h2>
      {parent && (
        <p>
          Forked from <Link href={`/runs/${parent.task_id}`}>{parent.task_id}</Link> at step <strong>{parent.step_id}</strong> ·{' '}
          <Link href={`/compare/${parent.task_id}/${task.task_id}`}>Compare with it</Link>
        </p>
      )}
      {forks.length > 0 && (
        <ul className="plain forks" aria-label="Forks of this run">
          {forks.map((f) => (
            <li key={f.task_id}>
              <StatusBadge status={f.status} /> <Link href={`/runs/${f.task_id}`}>{f.task_id}</Link> from step{' '}
              <strong>{f.from_step}</strong>, {when(f.created_at)} · <Link href={`/compare/${task.task_id}/${f.task_id}`}>Compare</Link>
            </li>
          ))}
        </ul>
      )}
      {finished && <ForkForm task={task} />}
    </section>
  );
}

function ForkForm({ task }: { task: TaskView }) {
  const [, navigate] = useLocation();
  const [step, setStep] = useState(task.plan.steps[0]?.id ?? '');
  const [patch, setPatch] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const fork = async (e: FormEvent) => {
    e.preventDefault();
    let inputPatch: unknown;
    if (patch.trim()) {
      try {
        inputPatch = JSON.parse(patch);
      } catch (err) {
        setError(`The input patch is not JSON: ${messageOf(err)}`);
        return;
      }
    }
    setBusy(true);
    try {
      const made = await post<{ task_id: string }>(`/tasks/${task.task_id}/fork`, {
        from_step: step,
        ...(inputPatch === undefined ? {} : { input_patch: inputPatch }),
      });
      navigate(`/runs/${made.task_id}`);
    } catch (err) {
      setError(`The fork was refused: ${messageOf(err)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="fork" onSubmit={(e) => void fork(e)}>
      <label htmlFor="fork-step">Fork from step</label>
      <select id="fork-step" value={step} onChange={(e) => setStep(e.target.value)}>
        {task.plan.steps.map((s) => (
          <option key={s.id} value={s.id}>
            {s.id} ({s.agent})
          </option>
        ))}
      </select>
      <label htmlFor="fork-patch">Changes to its input (a JSON merge patch, optional)</label>
      <textarea id="fork-patch" rows={3} value={patch} onChange={(e) => setPatch(e.target.value)} placeholder='{"spec": "…"}' />
      <p className="muted">The steps above it keep their results and are not run again; it and everything below it run.</p>
      <button type="submit" disabled={busy || !step}>
        Fork
      </button>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
