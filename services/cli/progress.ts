import type { SseEvent } from './client.ts';

interface Row {
  id: string;
  agent: string;
  status: string;
  attempt: number;
  detail: string;
  /** What the step's agent last reported (step_progress), shown until the step ends. */
  message?: string;
  fraction?: number;
  textChars?: number;
}

const ICON: Record<string, string> = {
  pending: '·',
  running: '▶',
  scheduled: '↻',
  waiting: '?',
  succeeded: '✔',
  failed: '✖',
  skipped: '-',
  cancelled: '■',
};

/**
 * When the event happened (its created_at): events from before the CLI connected, or sent in a
 * burst, arrive together, and a log stamped on arrival would show a 96 ms step as taking none.
 */
function when(d: SseEvent['data']): string {
  const at = typeof d.created_at === 'string' ? new Date(d.created_at) : undefined;
  return (at && !Number.isNaN(at.getTime()) ? at : new Date()).toISOString();
}

/**
 * Shows a workflow's steps as its events arrive: redrawn in place on a terminal, one line per event
 * otherwise (CI logs, pipes).
 */
export class ProgressDisplay {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private status = 'running';
  private readonly out: NodeJS.WriteStream;
  private readonly live: boolean;
  private readonly started = Date.now();

  constructor(plan: { steps: Array<{ id: string; agent: string }> }, out: NodeJS.WriteStream = process.stdout) {
    this.out = out;
    this.live = Boolean(out.isTTY);
    for (const s of plan.steps) this.rows.set(s.id, { id: s.id, agent: s.agent, status: 'pending', attempt: 0, detail: '' });
  }

  apply(e: SseEvent): void {
    const d = e.data;
    const step = typeof d.step_id === 'string' ? this.rows.get(d.step_id) : undefined;
    const data = (d.data ?? {}) as Record<string, unknown>;
    if (e.event === 'step_progress') return this.progress(step, data, d);
    if (step) {
      step.attempt = typeof d.attempt === 'number' ? d.attempt : step.attempt;
      if (e.event === 'step_started') {
        step.status = 'running';
        step.message = step.fraction = step.textChars = undefined;
      }
      if (e.event === 'approval_requested') {
        step.status = 'waiting';
        step.detail = `${typeof data.prompt === 'string' ? `${data.prompt} — ` : ''}answer with: agentic-mesh approve|reject ${String(d.task_id)}`;
      }
      if (e.event === 'step_succeeded') {
        step.status = 'succeeded';
        step.detail = `${String(data.duration_ms ?? '?')} ms${data.replayed ? ' (replayed)' : ''}`;
      }
      if (e.event === 'step_failed') {
        const err = data.error as { message?: string } | undefined;
        step.status = data.next_attempt ? 'scheduled' : 'failed';
        step.detail = `${err?.message ?? 'failed'}${data.retry_in_ms !== undefined ? ` — retry in ${String(data.retry_in_ms)} ms` : ''}`;
      }
      if (e.event === 'step_skipped') {
        step.status = 'skipped';
        step.detail = `after ${String(data.because)} failed`;
      }
    }
    if (e.event === 'branch_taken' && step)
      step.detail = `${String(data.branch)}: back to ${String(data.target)} (loop ${String(data.iteration)})`;
    if (e.event.startsWith('workflow_') && e.event !== 'workflow_planned_by') this.status = e.event.replace('workflow_', '');
    if (this.live) this.redraw();
    else
      this.out.write(
        `${when(d)} ${e.event}${step ? ` ${step.id} (${step.agent}) #${step.attempt}` : ''}${step?.detail ? ` ${step.detail}` : ''}\n`,
      );
  }

  /**
   * What an agent reports while its step runs: on a terminal, the row shows the latest status line,
   * how far along it is and how much text has come. In a log only status lines are written: a
   * model's answer comes one event per token and would drown everything else.
   */
  private progress(step: Row | undefined, data: Record<string, unknown>, d: SseEvent['data']): void {
    if (!step) return;
    if (typeof data.message === 'string') step.message = data.message;
    if (typeof data.fraction === 'number') step.fraction = data.fraction;
    if (typeof data.text === 'string') step.textChars = (step.textChars ?? 0) + data.text.length;
    step.detail = [
      step.message,
      step.fraction !== undefined ? `${Math.round(step.fraction * 100)}%` : undefined,
      step.textChars ? `${step.textChars} characters written` : undefined,
    ]
      .filter(Boolean)
      .join(' — ');
    if (this.live) this.redraw();
    else if (typeof data.message === 'string') this.out.write(`${when(d)} step_progress ${step.id} (${step.agent}) ${data.message}\n`);
  }

  private redraw(): void {
    const width = Math.max(...[...this.rows.values()].map((r) => r.id.length + r.agent.length + 3));
    const lines = [
      `workflow ${this.status} — ${((Date.now() - this.started) / 1000).toFixed(1)} s`,
      ...[...this.rows.values()].map(
        (r) =>
          `  ${ICON[r.status] ?? '?'} ${`${r.id} (${r.agent})`.padEnd(width)}  ${r.status.padEnd(9)} ${r.attempt > 1 ? `#${r.attempt} ` : ''}${r.detail}`,
      ),
    ];
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const line of lines) this.out.write(`\x1b[2K${line}\n`);
    this.drawn = lines.length;
  }
}
