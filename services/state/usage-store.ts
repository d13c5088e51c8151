import type { Queryable } from './db.ts';
import type { Budget } from './plan.ts';
import type { Usage } from '../protocol/usage.ts';
import { planOf, type WorkflowStatus } from './rows.ts';

// GET /usage: what stored attempts, the planning of stored runs (migration 0020) and planning no
// stored run carries (planning_spend, migration 0021) spent on models, summed over a time window;
// usage_ledger says which attempts used a model and when they finished (migration 0017). One row
// per attempt is the unit (migration 0014), so an answer an agent replayed from its idempotency
// store, which fills the same attempt's row, is counted once.

export const usageGroups = ['workflow', 'agent', 'model', 'api_key'] as const;
export type UsageGroup = (typeof usageGroups)[number];

export interface UsageLine {
  /** The task id, agent, model or API key id (null: runs submitted without a key). */
  key: string | null;
  /** group_by=workflow: the run's description. */
  description?: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  calls: number;
  attempts: number;
  /** USD of the priced part; unpriced_calls says how many calls had no price (cost unknown, not zero). */
  cost_usd: number;
  unpriced_calls: number;
}

/** The agent key under which GET /usage and the metrics show what planning descriptions cost. */
export const PLANNER = '(planner)';

// Each row of `spent` is one model's line of an attempt's usage, or of a run's planning (no step),
// or of planning no run carries (no run: its own key).
const keyOf: Record<UsageGroup, string> = {
  workflow: 'x.workflow_id::text',
  agent: 'x.agent',
  model: "x.u->>'model'",
  api_key: 'coalesce(w.submitted_by, x.submitted_by)',
};

/** group_by=workflow's line for planning that no run carries (its key is null). */
export const UNSTORED_PLANNING = 'planning no run carries: refused descriptions, schedules planned as they were written';

/** Planning a model was paid for that no stored run carries (a refused description, a schedule's check). */
export async function recordPlanningSpend(
  db: Queryable,
  spend: { usage: Usage; reason: string; submittedBy?: string | null | undefined },
): Promise<void> {
  await db.query(`INSERT INTO planning_spend (submitted_by, reason, usage) VALUES ($1, $2, $3)`, [
    spend.submittedBy ?? null,
    spend.reason.slice(0, 500),
    JSON.stringify(spend.usage),
  ]);
}

/** Usage of attempts that finished, and of runs planned, in [from, to), grouped; `owner` limits it to one API key's runs. */
export async function usageSummary(
  db: Queryable,
  q: { from: Date; to: Date; groupBy: UsageGroup; owner?: string | undefined },
): Promise<UsageLine[]> {
  const key = keyOf[q.groupBy];
  const rows = await db.query<Record<string, unknown>>(
    `WITH spent AS (
       SELECT s.workflow_id, s.agent, s.step_id, s.attempt, NULL::text AS submitted_by, u
         FROM usage_ledger l
         JOIN steps s ON (s.workflow_id, s.step_id, s.attempt) = (l.workflow_id, l.step_id, l.attempt)
         CROSS JOIN LATERAL jsonb_array_elements(s.usage) AS u
        WHERE s.usage IS NOT NULL AND l.finished_at >= $1 AND l.finished_at < $2
       UNION ALL
       -- Planning is spent before the run starts: it counts at the run's creation.
       SELECT p.id, '${PLANNER}', NULL, NULL, NULL, u
         FROM workflows p CROSS JOIN LATERAL jsonb_array_elements(p.planning_usage) AS u
        WHERE p.planning_usage IS NOT NULL AND p.created_at >= $1 AND p.created_at < $2
       UNION ALL
       SELECT NULL, '${PLANNER}', NULL, NULL, ps.submitted_by, u
         FROM planning_spend ps CROSS JOIN LATERAL jsonb_array_elements(ps.usage) AS u
        WHERE ps.at >= $1 AND ps.at < $2)
     SELECT * FROM (SELECT ${key} AS key,
            ${q.groupBy === 'workflow' ? 'min(w.description) AS description,' : ''}
            coalesce(sum((x.u->>'prompt_tokens')::bigint), 0) AS prompt_tokens,
            coalesce(sum((x.u->>'completion_tokens')::bigint), 0) AS completion_tokens,
            coalesce(sum((x.u->>'calls')::bigint), 0) AS calls,
            count(DISTINCT (x.workflow_id, x.step_id, x.attempt)) FILTER (WHERE x.step_id IS NOT NULL) AS attempts,
            coalesce(sum((x.u->>'cost_usd')::numeric), 0) AS cost_usd,
            coalesce(sum(CASE WHEN jsonb_typeof(x.u->'cost_usd') = 'number' THEN 0 ELSE (x.u->>'calls')::bigint END), 0) AS unpriced_calls
       FROM spent x
       LEFT JOIN workflows w ON w.id = x.workflow_id
      WHERE ($3::text IS NULL OR coalesce(w.submitted_by, x.submitted_by) = $3)
      GROUP BY 1) g
      ORDER BY cost_usd DESC, prompt_tokens + completion_tokens DESC, key`,
    [q.from, q.to, q.owner ?? null],
  );
  return rows.map((r) => ({
    key: r.key === null ? null : String(r.key),
    ...(q.groupBy === 'workflow' ? { description: r.key === null ? UNSTORED_PLANNING : ((r.description as string | null) ?? null) } : {}),
    prompt_tokens: Number(r.prompt_tokens),
    completion_tokens: Number(r.completion_tokens),
    tokens: Number(r.prompt_tokens) + Number(r.completion_tokens),
    calls: Number(r.calls),
    attempts: Number(r.attempts),
    cost_usd: Number(r.cost_usd),
    unpriced_calls: Number(r.unpriced_calls),
  }));
}

/**
 * Sets a run's budget (its plan's `budget`, merged: a field not given keeps its value). A failed run
 * takes one too, for POST /resume to go on with. Undefined when the run succeeded, was cancelled or
 * does not exist.
 */
export async function setBudget(
  db: Queryable,
  id: string,
  budget: Budget,
): Promise<{ status: WorkflowStatus; budget: Budget } | undefined> {
  const [row] = await db.query<{ status: WorkflowStatus; budget: Budget }>(
    // The changed plan is the run's own (inline): the stored one, by its hash, may be other runs' too.
    // It is read from the row being updated, so a budget changed at the same moment is merged, not lost.
    `UPDATE workflows SET inline_plan = (SELECT jsonb_set(x.plan, '{budget}', coalesce(x.plan->'budget', '{}'::jsonb) || $2::jsonb)
                                         FROM (SELECT ${planOf('workflows')} AS plan) x),
        plan_hash = NULL, updated_at = now()
      WHERE id = $1 AND status NOT IN ('succeeded', 'cancelled')
      RETURNING status, inline_plan->'budget' AS budget`,
    [id, JSON.stringify(budget)],
  );
  return row;
}
