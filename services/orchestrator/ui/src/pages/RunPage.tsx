import { useCallback, useEffect, useRef, useState } from 'react';
import { Link } from 'wouter';
import { api, messageOf } from '../api.ts';
import { followTask, type TaskEvent } from '../events.ts';
import { attemptSpent, dollars, errorText, span, spent, took, when } from '../format.ts';
import { StatusBadge } from '../StatusBadge.tsx';
import { Actions } from '../run/Actions.tsx';
import { Lineage } from '../run/Lineage.tsx';
import { Legend, RunGraph, stateName } from '../run/RunGraph.tsx';
import { StepPanel } from '../run/StepPanel.tsx';
import { Timeline } from '../run/Timeline.tsx';
import { displayState } from '../run/graph-model.ts';
import { finalStatuses, type StepProgress, type TaskView } from '../types.ts';

const finalEvents = new Set(['workflow_succeeded', 'workflow_failed', 'workflow_cancelled']);

/** What a step_progress event adds: text is appended, a message or fraction replaces the last; a new attempt starts afresh. */
function addProgress(before: StepProgress | undefined, attempt: number, data: unknown): StepProgress {
  const p = (data ?? {}) as { text?: unknown; message?: unknown; fraction?: unknown };
  const base = before && before.attempt === attempt ? before : { attempt, text: '' };
  return {
    ...base,
    text: base.text + (typeof p.text === 'string' ? p.text : ''),
    ...(typeof p.message === 'string' ? { message: p.message } : {}),
    ...(typeof p.fraction === 'number' ? { fraction: Math.min(Math.max(p.fraction, 0), 1) } : {}),
  };
}

export function RunPage({ id }: { id: string }) {
  const [task, setTask] = useState<TaskView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [streamError, setStreamError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [progress, setProgress] = useState<Record<string, StepProgress>>({});
  const [now, setNow] = useState(() => Date.now());
  const finished = useRef(false);
  const reload = useRef<() => void>(() => {});

  const load = useCallback(async () => {
    try {
      const view = await api<TaskView>(`/tasks/${id}`);
      finished.current = finalStatuses.has(view.status);
      setTask(view);
      setError(null);
    } catch (err) {
      setError(messageOf(err));
    }
  }, [id]);

  // Durable events say something changed: read the task again, at most one read at a time.
  useEffect(() => {
    let running = false;
    let again = false;
    reload.current = () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      void load().finally(() => {
        running = false;
        if (again) {
          again = false;
          reload.current();
        }
      });
    };
    reload.current();
  }, [load]);

  useEffect(
    () =>
      followTask(id, {
        onEvent: (e: TaskEvent) => {
          if (e.type === 'step_progress') {
            if (e.step_id) setProgress((all) => ({ ...all, [e.step_id!]: addProgress(all[e.step_id!], e.attempt ?? 1, e.data) }));
            return;
          }
          if (finalEvents.has(e.type)) finished.current = true;
          reload.current();
        },
        onError: (message) => setStreamError(message),
        isFinished: () => finished.current,
      }),
    [id],
  );

  const live = task !== null && !finalStatuses.has(task.status);
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [live]);

  if (error && !task)
    return (
      <section>
        <h1>Run {id}</h1>
        <p className="error" role="alert">
          {error}
        </p>
        <Link href="/">Back to the runs</Link>
      </section>
    );
  if (!task) return <p role="status">Loading run {id}…</p>;

  const def = task.plan.steps.find((s) => s.id === selected);
  return (
    <section className="run" data-status={task.status}>
      <h1>{task.description ?? `Run ${task.task_id}`}</h1>
      <p className="run-meta">
        <StatusBadge status={task.status} /> <span className="muted">{task.task_id}</span> · created {when(task.created_at)}
        {task.run_at && <> · starts {when(task.run_at)}</>} · took{' '}
        {took(span(task.started_at, task.finished_at ?? (live ? new Date(now).toISOString() : null)))}
        {task.usage && task.usage.calls > 0 && <> · {spent(task.usage)}</>}
        {task.planning_usage?.length ? <> (planning {spent(attemptSpent(task.planning_usage))})</> : null}
        {task.budget && (
          <>
            {' · budget '}
            {[
              task.budget.usd !== undefined ? dollars(task.budget.usd) : '',
              task.budget.tokens !== undefined ? `${task.budget.tokens.toLocaleString('en-US')} tokens` : '',
            ]
              .filter(Boolean)
              .join(' and ')}
          </>
        )}
        {task.trace_url && (
          <>
            {' · '}
            <a href={task.trace_url} target="_blank" rel="noreferrer noopener">
              Trace in Jaeger
            </a>
          </>
        )}
      </p>
      {task.schedule && (
        <p className="run-origin" data-testid="run-schedule">
          Started by the schedule <Link href={`/?schedule=${encodeURIComponent(task.schedule.name)}`}>{task.schedule.name}</Link>
          {task.schedule.tick ? ` for its ${when(task.schedule.tick)} tick` : ', run by hand (Run now)'}
          {task.schedule.caught_up ? ', caught up after the orchestrator was down' : ''}
        </p>
      )}
      {task.error !== null && task.error !== undefined && (
        <p className="error" data-testid="run-error">
          {errorText(task.error)}
        </p>
      )}
      {streamError && (
        <p className="error" role="alert">
          Live updates stopped: {streamError}
        </p>
      )}
      <Actions task={task} onDone={() => reload.current()} />
      <Lineage task={task} />
      <h2>Plan</h2>
      <RunGraph plan={task.plan.steps} steps={task.steps} decisions={task.decisions} selected={selected} onSelect={setSelected} />
      <Legend />
      <h2 id="steps-heading">Steps</h2>
      <ul className="step-list" aria-labelledby="steps-heading">
        {task.plan.steps.map((s) => {
          const state = displayState(task.steps.find((v) => v.id === s.id));
          return (
            <li key={s.id}>
              <button type="button" aria-pressed={selected === s.id} onClick={() => setSelected(s.id)} data-step-button={s.id}>
                <span className={`swatch state-${state}`} aria-hidden="true" />
                {s.id} · {stateName(state)}
                {task.steps.find((v) => v.id === s.id)?.reused ? ' · reused' : ''}
                {progress[s.id]?.message ? ` · ${progress[s.id]?.message}` : ''}
              </button>
            </li>
          );
        })}
      </ul>
      {def && <StepPanel def={def} step={task.steps.find((v) => v.id === def.id)} progress={progress[def.id]} traceUrl={task.trace_url} />}
      <h2>Timeline</h2>
      <Timeline steps={task.steps} now={live ? now : Date.now()} />
      {task.decisions.length > 0 && (
        <>
          <h2>Branch decisions</h2>
          <ol className="decisions">
            {task.decisions.map((d, i) => (
              <li key={i}>
                {when(d.at)}: {d.reason ?? `${d.step_id} ${d.outcome}`}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}
