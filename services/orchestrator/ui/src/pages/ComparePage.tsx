import { useEffect, useState } from 'react';
import { Link } from 'wouter';
import { api, messageOf } from '../api.ts';
import { took } from '../format.ts';
import { StatusBadge } from '../StatusBadge.tsx';
import type { Comparison } from '../types.ts';

const verdicts: Record<Comparison['steps'][number]['verdict'], string> = {
  reused: 'reused',
  changed: 'ran in both, changed',
  unchanged: 'ran in both, same result',
  only_a: 'ran in a only',
  only_b: 'ran in b only',
  not_run: 'ran in neither',
};

const signed = (n: number, text: string) => `${n > 0 ? '+' : n < 0 ? '−' : '±'}${text}`;
const usd = (n: number | null) => (n === null ? '–' : `$${n.toFixed(4)}`);
const shown = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));

/** Two runs step by step (GET /tasks/:a/compare/:b): what was reused, what changed, and the time and cost. */
export function ComparePage({ a, b }: { a: string; b: string }) {
  const [cmp, setCmp] = useState<Comparison | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    api<Comparison>(`/tasks/${a}/compare/${b}`, { signal: abort.signal }).then(setCmp, (err: unknown) => {
      if (!abort.signal.aborted) setError(messageOf(err));
    });
    return () => abort.abort();
  }, [a, b]);

  if (error)
    return (
      <section>
        <h1>Compare</h1>
        <p className="error" role="alert">
          {error}
        </p>
      </section>
    );
  if (!cmp) return <p role="status">Comparing…</p>;
  const s = cmp.summary;
  return (
    <section className="compare">
      <h1>Compare two runs</h1>
      <dl>
        {(['a', 'b'] as const).map((side) => (
          <div key={side}>
            <dt>{side}</dt>
            <dd>
              <StatusBadge status={cmp[side].status} /> <Link href={`/runs/${cmp[side].task_id}`}>{cmp[side].task_id}</Link>
              {side === 'b' && cmp.relation === 'b_forked_from_a' && <span className="muted"> (forked from a)</span>}
              {side === 'a' && cmp.relation === 'a_forked_from_b' && <span className="muted"> (forked from b)</span>}
              <span className="muted">
                {' '}
                · took {took(cmp[side].duration_ms)} · {cmp[side].tokens} tokens · {usd(cmp[side].cost_usd)}
              </span>
            </dd>
          </div>
        ))}
      </dl>
      <p>
        Reused: {s.reused.join(', ') || 'none'} · changed: {s.changed.join(', ') || 'none'} · same: {s.unchanged.join(', ') || 'none'}
        {s.duration_delta_ms !== null && <> · run time {signed(s.duration_delta_ms, took(Math.abs(s.duration_delta_ms)))}</>}
        {s.cost_delta_usd !== null && <> · cost {signed(s.cost_delta_usd, usd(Math.abs(s.cost_delta_usd)))}</>}
      </p>
      <table className="compare-steps">
        <caption className="visually-hidden">Each step in both runs</caption>
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Verdict</th>
            <th scope="col">a</th>
            <th scope="col">b</th>
            <th scope="col">Time</th>
            <th scope="col">What changed in the output</th>
          </tr>
        </thead>
        <tbody>
          {cmp.steps.map((step) => (
            <tr key={step.step_id} data-verdict={step.verdict}>
              <th scope="row">{step.step_id}</th>
              <td>{verdicts[step.verdict]}</td>
              <td>
                {step.a.status}
                {step.a.reused_from && <span className="muted"> (reused)</span>}
              </td>
              <td>
                {step.b.status}
                {step.b.reused_from && <span className="muted"> (reused)</span>}
              </td>
              <td>
                {took(step.a.duration_ms)} → {took(step.b.duration_ms)}
              </td>
              <td>
                <Changes diff={step.diff} truncated={step.diff_truncated} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A step's output differences; those only in timings are named in one muted line, not listed as changes. */
function Changes({ diff, truncated }: { diff: Comparison['steps'][number]['diff']; truncated: boolean }) {
  const changes = diff.filter((d) => !d.timing);
  const timings = diff.filter((d) => d.timing);
  if (diff.length === 0) return <span className="muted">–</span>;
  return (
    <ul className="plain diff">
      {changes.map((d, i) => (
        <li key={i}>
          <code>{d.path}</code> {d.op}
          {d.op !== 'added' && <> from {shown(d.old)}</>}
          {d.op !== 'removed' && <> to {shown(d.value)}</>}
        </li>
      ))}
      {timings.length > 0 && (
        <li className="muted" data-timings>
          only timings differ at {timings.map((d) => d.path).join(', ')}
        </li>
      )}
      {truncated && <li className="muted">… and more</li>}
    </ul>
  );
}
