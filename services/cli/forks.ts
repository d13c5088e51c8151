import { randomUUID } from 'node:crypto';
import { api, jsonFile, submit } from './client.ts';

export const forksUsage = `  agentic-mesh fork <task_id> --from <step>   run a finished task again from a step: the steps
      [--input-patch patch.json] [--plan-patch patch.json]   above it keep their results,
      [--detach]                      the rest run (patched); prints the comparison when done
  agentic-mesh compare <task_a> <task_b>   step by step: reused, ran in both, what changed`;

export interface ForkFlags {
  from?: string | undefined;
  'input-patch'?: string | undefined;
  'plan-patch'?: string | undefined;
  'idempotency-key'?: string | undefined;
  detach?: boolean | undefined;
}

interface CompareStep {
  step_id: string;
  verdict: string;
  a: { status: string; duration_ms: number; cost_usd: number | null };
  b: { status: string; duration_ms: number; cost_usd: number | null };
  diff: Array<{ op: string; path: string; old?: unknown; value?: unknown; timing?: boolean }>;
  diff_truncated: boolean;
  duration_delta_ms: number;
  cost_delta_usd: number | null;
}

const signed = (n: number, unit: string) => `${n >= 0 ? '+' : ''}${n}${unit}`;
const usd = (n: number | null) => (n === null ? 'cost unknown' : `$${n.toFixed(4)}`);
const shown = (v: unknown) => {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** The comparison as text: one line per step, the changes under each changed step, and the totals. */
export function formatComparison(c: Record<string, unknown>): string {
  const a = c.a as { task_id: string; status: string; duration_ms: number | null; cost_usd: number | null };
  const b = c.b as typeof a;
  const summary = c.summary as { reused: string[]; changed: string[]; duration_delta_ms: number | null; cost_delta_usd: number | null };
  const lines = [
    `a ${a.task_id} ${a.status}`,
    `b ${b.task_id} ${b.status}${c.relation === 'b_forked_from_a' ? ' (forked from a)' : c.relation === 'a_forked_from_b' ? ' (a was forked from it)' : ''}`,
  ];
  for (const s of c.steps as CompareStep[]) {
    const time = s.verdict === 'reused' ? '' : `  ${s.a.duration_ms} -> ${s.b.duration_ms} ms (${signed(s.duration_delta_ms, ' ms')})`;
    const cost = s.cost_delta_usd === null ? '' : `  cost ${signed(Number(s.cost_delta_usd.toFixed(4)), ' USD')}`;
    lines.push(`  ${s.step_id}: ${s.verdict.replace('_', ' ')}  [${s.a.status} | ${s.b.status}]${time}${cost}`);
    const timings = s.diff.filter((d) => d.timing).map((d) => d.path);
    for (const d of s.diff.filter((x) => !x.timing))
      lines.push(
        `      ${d.op} ${d.path}${'old' in d ? ` ${shown(d.old)}` : ''}${'value' in d ? `${'old' in d ? ' ->' : ''} ${shown(d.value)}` : ''}`,
      );
    if (timings.length > 0) lines.push(`      only timings differ at ${timings.join(', ')}`);
    if (s.diff_truncated) lines.push('      ... (more changes: GET /tasks/:a/compare/:b has the first 200)');
  }
  lines.push(`  reused: ${summary.reused.join(', ') || '-'}; changed: ${summary.changed.join(', ') || '-'}`);
  if (summary.duration_delta_ms !== null)
    lines.push(`  run time ${a.duration_ms} -> ${b.duration_ms} ms (${signed(summary.duration_delta_ms, ' ms')})`);
  if (a.cost_usd !== null || b.cost_usd !== null) lines.push(`  cost ${usd(a.cost_usd)} -> ${usd(b.cost_usd)}`);
  return `${lines.join('\n')}\n`;
}

export async function compareCommand(url: string, a: string | undefined, b: string | undefined): Promise<number> {
  if (!a || !b) throw new Error('name two tasks: agentic-mesh compare <task_a> <task_b>');
  process.stdout.write(formatComparison(await api(url, 'GET', `/tasks/${a}/compare/${b}`)));
  return 0;
}

/**
 * `agentic-mesh fork <task> --from <step>`: waits for the fork (the orchestrator answers when it has
 * finished, or 202 while it still runs) and prints how it compares with its parent.
 */
export async function forkCommand(url: string, taskId: string | undefined, flags: ForkFlags): Promise<number> {
  if (!taskId || !flags.from)
    throw new Error('agentic-mesh fork <task_id> --from <step> [--input-patch patch.json] [--plan-patch patch.json]');
  const body: Record<string, unknown> = { from_step: flags.from, wait: !flags.detach };
  if (flags['input-patch']) body.input_patch = await jsonFile('input-patch', flags['input-patch']);
  if (flags['plan-patch']) body.plan_patch = await jsonFile('plan-patch', flags['plan-patch']);
  // A key of its own, so the CLI's retries (orchestrator unreachable, 502-504) never make a second fork.
  const { body: fork } = await submit(url, body, flags['idempotency-key'] ?? randomUUID(), 4, `/tasks/${taskId}/fork`);
  const id = String(fork.task_id);
  process.stdout.write(
    `task ${id} forked from ${taskId} at step ${flags.from}: reused ${(fork.reused as string[]).join(', ') || 'nothing'}; ${String(fork.status)}\n`,
  );
  if (flags.detach || fork.status === 'running' || fork.status === 'waiting') {
    process.stdout.write(`agentic-mesh status ${id}; agentic-mesh compare ${taskId} ${id}\n`);
    return 0;
  }
  process.stdout.write(formatComparison(await api(url, 'GET', `/tasks/${taskId}/compare/${id}`)));
  return fork.status === 'succeeded' ? 0 : 1;
}
