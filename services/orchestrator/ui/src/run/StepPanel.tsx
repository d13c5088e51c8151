import { JsonView, collapseAllNested, defaultStyles } from 'react-json-view-lite';
import { attemptSpent, spent, took, when } from '../format.ts';
import type { PlanStep, StepProgress, StepView } from '../types.ts';
import { stateName } from './RunGraph.tsx';
import { displayState } from './graph-model.ts';

// The library's colours, darker where they fell short of WCAG's contrast on white (axe checks it).
const jsonStyles = {
  ...defaultStyles,
  booleanValue: 'json-boolean',
  numberValue: 'json-number',
  stringValue: 'json-string',
  nullValue: 'json-null',
  undefinedValue: 'json-null',
  otherValue: 'json-null',
};

function Json({ label, value }: { label: string; value: unknown }) {
  if (value === null || value === undefined) return null;
  // Strings, numbers and the like are shown as text; the viewer takes objects and arrays.
  const data: object = typeof value === 'object' ? value : { value };
  return (
    <div className="json">
      <h3>{label}</h3>
      <JsonView data={data} shouldExpandNode={collapseAllNested} style={jsonStyles} />
    </div>
  );
}

/** One step: what it is, what an agent is reporting now, and every attempt with its input, output and error. */
export function StepPanel(props: {
  def: PlanStep;
  step: StepView | undefined;
  progress: StepProgress | undefined;
  traceUrl: string | null;
}) {
  const { def, step, progress } = props;
  return (
    <section className="card step-panel" aria-labelledby="step-title">
      <h2 id="step-title">
        Step {def.id} <span className="muted">({def.type === 'approval' ? 'approval' : def.agent})</span>
      </h2>
      <p>
        State: <strong data-testid="step-state">{stateName(displayState(step))}</strong>
        {props.traceUrl && (
          <>
            {' · '}
            <a href={props.traceUrl} target="_blank" rel="noreferrer noopener">
              Trace in Jaeger
            </a>
          </>
        )}
      </p>
      {def.description && <p>{def.description}</p>}
      {def.prompt && <p>Asks: {def.prompt}</p>}
      {progress && (
        <div className="progress" data-testid="step-progress">
          <h3>Live (attempt {progress.attempt})</h3>
          {progress.message && <p role="status">{progress.message}</p>}
          {progress.fraction !== undefined && (
            <progress max={1} value={progress.fraction} aria-label="Fraction done">
              {Math.round(progress.fraction * 100)}%
            </progress>
          )}
          {progress.text && (
            <pre className="stream" aria-live="polite" data-testid="step-stream">
              {progress.text}
            </pre>
          )}
        </div>
      )}
      <Json label="Input (as planned)" value={def.input} />
      {(step?.attempts ?? []).length === 0 && <p className="muted">Not run yet.</p>}
      {[...(step?.attempts ?? [])].reverse().map((a) => (
        <details key={a.attempt} open={a.attempt === step?.attempts.length} className="attempt" data-attempt={a.attempt}>
          <summary>
            Attempt {a.attempt}: {a.status} · {took(a.duration_ms)}
            {a.usage?.length ? ` · ${spent(attemptSpent(a.usage))}` : ''}
          </summary>
          <dl>
            <dt>Idempotency key</dt>
            <dd>
              <code>{a.idempotency_key}</code>
            </dd>
            <dt>Started</dt>
            <dd>{when(a.started_at)}</dd>
            <dt>Finished</dt>
            <dd>{when(a.finished_at)}</dd>
          </dl>
          <Json label="Input" value={a.input} />
          <Json label="Output" value={a.output} />
          <Json label="Error" value={a.error} />
        </details>
      ))}
    </section>
  );
}
