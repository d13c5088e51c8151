import { useEffect, useState, type FormEvent } from 'react';
import { Link, useLocation } from 'wouter';
import { api, messageOf, parseInput, post } from '../api.ts';
import { when } from '../format.ts';
import { StatusBadge } from '../StatusBadge.tsx';
import type { NamedWorkflow, ScheduleView } from '../types.ts';
import { usePoll } from '../usePoll.ts';

interface RowAction {
  name: string;
  id: 'trigger' | 'pause' | 'resume' | 'delete';
  confirm: string;
}

const what = (s: ScheduleView) =>
  s.workflow ? `workflow ${s.workflow}` : s.plan ? `a plan of ${s.plan.steps.length} step(s)` : (s.description ?? '');

/** Every schedule with its next and last run; run one now, pause, resume or delete it, or make one. */
export function SchedulesPage() {
  const [, navigate] = useLocation();
  const [schedules, setSchedules] = useState<ScheduleView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<RowAction | null>(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState(0);

  usePoll(
    async (signal) => {
      try {
        setSchedules((await api<{ schedules: ScheduleView[] }>('/schedules', { signal })).schedules);
      } catch (err) {
        if (!signal.aborted) setError(messageOf(err));
      }
    },
    5_000,
    [version],
  );

  const act = async () => {
    if (!pending) return;
    setBusy(true);
    const path = `/schedules/${encodeURIComponent(pending.name)}`;
    try {
      if (pending.id === 'trigger') {
        const started = await post<{ task_id: string }>(`${path}/trigger`);
        navigate(`/runs/${started.task_id}`);
        return;
      }
      if (pending.id === 'delete') await api(path, { method: 'DELETE' });
      else await api(path, { method: 'PATCH', body: { enabled: pending.id === 'resume' } });
      setError(null);
      setVersion((n) => n + 1);
    } catch (err) {
      setError(`${pending.id} ${pending.name} was refused: ${messageOf(err)}`);
    } finally {
      setPending(null);
      setBusy(false);
    }
  };

  const ask = (s: ScheduleView, id: RowAction['id']) => {
    const confirm = {
      trigger: `Start a run of ${s.name} now?`,
      pause: `Pause ${s.name}? No tick starts a run until it is resumed.`,
      resume: `Resume ${s.name}? It starts from its next tick; ticks missed while paused are not caught up.`,
      delete: `Delete ${s.name}? The runs it started stay.`,
    }[id];
    setPending({ name: s.name, id, confirm });
  };

  return (
    <section>
      <h1>Schedules</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {pending && (
        <div className="confirm card" role="group" aria-labelledby="schedule-confirm">
          <p id="schedule-confirm">{pending.confirm}</p>
          <button
            type="button"
            className={pending.id === 'delete' ? 'danger' : ''}
            onClick={() => void act()}
            disabled={busy}
            data-confirm={pending.id}
          >
            Yes
          </button>
          <button type="button" onClick={() => setPending(null)} disabled={busy}>
            No
          </button>
        </div>
      )}
      {schedules && schedules.length === 0 && <p>No schedules yet: make one below.</p>}
      {schedules && schedules.length > 0 && (
        <table className="schedules">
          <caption className="visually-hidden">Schedules, by name</caption>
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">When</th>
              <th scope="col">Runs</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr key={s.name} data-schedule={s.name} data-enabled={String(s.enabled)}>
                <th scope="row">
                  {s.name}
                  {s.source === 'file' && <div className="muted">from a workflow file</div>}
                </th>
                <td>
                  <code>{s.cron}</code> <span className="muted">{s.timezone}</span>
                </td>
                <td>{what(s)}</td>
                <td>{s.enabled ? when(s.next_run_at) : <span className="badge state-cancelled">paused</span>}</td>
                <td>
                  {s.last_run ? (
                    <>
                      <Link href={`/runs/${s.last_run.task_id}`}>{when(s.last_run.started_at)}</Link>{' '}
                      {s.last_run.status && <StatusBadge status={s.last_run.status} />}
                    </>
                  ) : (
                    '–'
                  )}
                  {s.last_outcome && <div className="muted">{s.last_outcome}</div>}
                  {s.last_run && (
                    <div>
                      <Link href={`/?schedule=${encodeURIComponent(s.name)}`} data-action="runs">
                        All its runs
                      </Link>
                    </div>
                  )}
                </td>
                <td>
                  <button type="button" onClick={() => ask(s, 'trigger')} data-action="trigger" aria-label={`Run now: ${s.name}`}>
                    Run now
                  </button>
                  <button
                    type="button"
                    onClick={() => ask(s, s.enabled ? 'pause' : 'resume')}
                    data-action={s.enabled ? 'pause' : 'resume'}
                    aria-label={`${s.enabled ? 'Pause' : 'Resume'} ${s.name}`}
                  >
                    {s.enabled ? 'Pause' : 'Resume'}
                  </button>
                  <button
                    type="button"
                    className="danger"
                    onClick={() => ask(s, 'delete')}
                    data-action="delete"
                    aria-label={`Delete ${s.name}`}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <NewSchedule onMade={() => setVersion((n) => n + 1)} />
    </section>
  );
}

/** POST /schedules: a name, a cron, and a description or named workflow with its input. */
function NewSchedule({ onMade }: { onMade: () => void }) {
  const [workflows, setWorkflows] = useState<NamedWorkflow[]>([]);
  const [form, setForm] = useState({ name: '', cron: '', timezone: 'UTC', mode: 'description', description: '', workflow: '', input: '' });
  const [error, setError] = useState<string | null>(null);
  const [made, setMade] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (field: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [field]: e.target.value }));

  useEffect(() => {
    api<{ workflows: NamedWorkflow[] }>('/workflows').then(
      (w) => {
        setWorkflows(w.workflows);
        setForm((f) => ({ ...f, workflow: f.workflow || (w.workflows[0]?.name ?? '') }));
      },
      (err: unknown) => setError(messageOf(err)),
    );
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setMade(null);
    try {
      const target = form.mode === 'description' ? { description: form.description } : { workflow: form.workflow };
      const body = {
        name: form.name.trim(),
        cron: form.cron.trim(),
        timezone: form.timezone.trim() || 'UTC',
        ...target,
        input: parseInput(form.input),
      };
      const schedule = await post<ScheduleView>('/schedules', body);
      setMade(`${schedule.name} made; its first run is due ${when(schedule.next_run_at)}.`);
      setForm((f) => ({ ...f, name: '', description: '', input: '' }));
      onMade();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} className="submit card">
      <h2>New schedule</h2>
      <label htmlFor="schedule-name">Name</label>
      <input id="schedule-name" value={form.name} onChange={set('name')} required placeholder="nightly-review" />
      <label htmlFor="schedule-cron">Cron (min hour day month weekday)</label>
      <input id="schedule-cron" value={form.cron} onChange={set('cron')} required placeholder="0 3 * * *" />
      <label htmlFor="schedule-timezone">Time zone</label>
      <input id="schedule-timezone" value={form.timezone} onChange={set('timezone')} />
      <fieldset>
        <legend>What each tick runs</legend>
        <label>
          <input type="radio" name="schedule-mode" value="description" checked={form.mode === 'description'} onChange={set('mode')} /> A
          description (planned on each tick)
        </label>
        <label>
          <input type="radio" name="schedule-mode" value="workflow" checked={form.mode === 'workflow'} onChange={set('mode')} /> A named
          workflow
        </label>
      </fieldset>
      {form.mode === 'description' ? (
        <>
          <label htmlFor="schedule-description">Description</label>
          <textarea id="schedule-description" rows={2} value={form.description} onChange={set('description')} required />
        </>
      ) : (
        <>
          <label htmlFor="schedule-workflow">Workflow</label>
          <select id="schedule-workflow" value={form.workflow} onChange={set('workflow')}>
            {workflows.map((w) => (
              <option key={w.name} value={w.name}>
                {w.name}
              </option>
            ))}
          </select>
        </>
      )}
      <label htmlFor="schedule-input">Input (JSON object, optional)</label>
      <textarea id="schedule-input" rows={3} value={form.input} onChange={set('input')} placeholder='{"spec": "…"}' />
      <button type="submit" disabled={busy}>
        Make schedule
      </button>
      {made && <p role="status">{made}</p>}
      {error && (
        <p className="error" role="alert" data-testid="schedule-error">
          {error}
        </p>
      )}
    </form>
  );
}
