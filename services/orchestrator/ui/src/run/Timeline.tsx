import type { StepView } from '../types.ts';
import { took } from '../format.ts';

const rowHeight = 22;
const labelWidth = 140;
const chartWidth = 760;

/**
 * A Gantt chart of attempts: one row per step, one bar per attempt from its start to its end (now,
 * while it runs). A retry is a second bar on the same row; the space before it is the backoff.
 */
export function Timeline({ steps, now }: { steps: StepView[]; now: number }) {
  const attempts = steps.flatMap((s) => s.attempts.filter((a) => a.started_at).map((a) => ({ step: s.id, a })));
  if (attempts.length === 0) return <p className="muted">No attempt has started yet.</p>;
  const start = Math.min(...attempts.map(({ a }) => new Date(a.started_at!).getTime()));
  // Up to now only while an attempt runs: a finished run's scale stays its own length.
  const end = Math.max(...attempts.map(({ a }) => (a.finished_at ? new Date(a.finished_at).getTime() : now)));
  const total = Math.max(end - start, 1);
  const x = (t: number) => labelWidth + ((t - start) / total) * chartWidth;
  const rows = steps.filter((s) => s.attempts.some((a) => a.started_at));
  return (
    <figure className="timeline">
      <svg
        role="img"
        aria-label={`Attempts over time, ${took(total)} in all`}
        width={labelWidth + chartWidth + 10}
        height={rows.length * rowHeight + 24}
        viewBox={`0 0 ${labelWidth + chartWidth + 10} ${rows.length * rowHeight + 24}`}
      >
        {rows.map((s, i) => (
          <g key={s.id} transform={`translate(0 ${i * rowHeight})`}>
            <text x={0} y={15} className="label">
              {s.id}
            </text>
            {s.attempts
              .filter((a) => a.started_at)
              .map((a) => {
                const from = new Date(a.started_at!).getTime();
                const to = a.finished_at ? new Date(a.finished_at).getTime() : now;
                return (
                  <rect
                    key={a.attempt}
                    x={x(from)}
                    y={4}
                    width={Math.max(x(to) - x(from), 2)}
                    height={rowHeight - 8}
                    className={`bar state-${a.status}`}
                    data-attempt={a.attempt}
                  >
                    <title>{`${s.id} attempt ${a.attempt}: ${a.status}, ${took(to - from)}`}</title>
                  </rect>
                );
              })}
          </g>
        ))}
        <text x={labelWidth} y={rows.length * rowHeight + 18} className="axis">
          0
        </text>
        <text x={labelWidth + chartWidth} y={rows.length * rowHeight + 18} className="axis" textAnchor="end">
          {took(total)}
        </text>
      </svg>
    </figure>
  );
}
