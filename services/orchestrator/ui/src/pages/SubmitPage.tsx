import { useEffect, useState, type FormEvent } from 'react';
import { useLocation } from 'wouter';
import { api, messageOf, parseInput, post } from '../api.ts';
import { RunGraph } from '../run/RunGraph.tsx';
import type { NamedWorkflow, Plan } from '../types.ts';

interface Planned {
  task_id: string;
  status: string;
  plan: Plan;
}

/** Plan first (`execute: false`), look at the graph, then run it (POST /execute/:id). */
export function SubmitPage() {
  const [, navigate] = useLocation();
  const [mode, setMode] = useState<'description' | 'workflow'>('description');
  const [description, setDescription] = useState('');
  const [workflows, setWorkflows] = useState<NamedWorkflow[]>([]);
  const [workflow, setWorkflow] = useState('');
  const [input, setInput] = useState('');
  const [planned, setPlanned] = useState<Planned | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ workflows: NamedWorkflow[] }>('/workflows').then(
      (w) => {
        setWorkflows(w.workflows);
        setWorkflow((now) => now || (w.workflows[0]?.name ?? ''));
      },
      (err: unknown) => setError(messageOf(err)),
    );
  }, []);

  const chosen = workflows.find((w) => w.name === workflow);
  const plan = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = { ...(mode === 'description' ? { description } : { workflow }), input: parseInput(input), execute: false };
      setPlanned(await post<Planned>('/orchestrate', body));
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const execute = async () => {
    if (!planned) return;
    setBusy(true);
    try {
      await post(`/execute/${planned.task_id}`);
      navigate(`/runs/${planned.task_id}`);
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Submit</h1>
      <form onSubmit={(e) => void plan(e)} className="submit">
        <fieldset>
          <legend>What to run</legend>
          <label>
            <input type="radio" name="mode" checked={mode === 'description'} onChange={() => setMode('description')} /> A description
            (planned for you)
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'workflow'} onChange={() => setMode('workflow')} /> A named workflow
          </label>
        </fieldset>
        {mode === 'description' ? (
          <>
            <label htmlFor="description">Description</label>
            <textarea id="description" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} required />
          </>
        ) : (
          <>
            <label htmlFor="workflow">Workflow</label>
            <select id="workflow" value={workflow} onChange={(e) => setWorkflow(e.target.value)}>
              {workflows.map((w) => (
                <option key={w.name} value={w.name}>
                  {w.name}
                </option>
              ))}
            </select>
            {chosen && (
              <div className="muted">
                <p>{chosen.description}</p>
                <ul>
                  {Object.entries(chosen.inputs ?? {}).map(([name, about]) => (
                    <li key={name}>
                      <code>{name}</code>: {about}
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </>
        )}
        <label htmlFor="input">Input (JSON object, optional)</label>
        <textarea id="input" rows={4} value={input} onChange={(e) => setInput(e.target.value)} placeholder='{"spec": "…"}' />
        <button type="submit" disabled={busy}>
          Plan it
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {planned && (
        <div className="planned">
          <h2>The plan</h2>
          <p>
            Task <code>{planned.task_id}</code> is planned with {planned.plan.steps.length} steps; nothing has run yet.
          </p>
          <RunGraph plan={planned.plan.steps} steps={[]} decisions={[]} selected={null} onSelect={() => {}} />
          <button type="button" onClick={() => void execute()} disabled={busy} data-action="execute">
            Run it
          </button>
        </div>
      )}
    </section>
  );
}
