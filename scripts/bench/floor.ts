// The floor: the least a durable loop over the diamond can do, to hold the platform against. It
// calls the same agent server the way the orchestrator's HTTP transport does, and makes each
// result durable with one auto-committed write: the workflow row's insert, one UPSERT per step and
// the final update, 6 commits per workflow. No leases, events, checkpoints or foreign keys.
import pg from 'pg';
import { Agent, request } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { drive, type RunResult } from './load.ts';
import { diamond } from './plans.ts';

export interface Floor {
  readonly schema: string;
  readonly tables: readonly string[];
  /** Every connection of the floor carries it, so a reader can tell when they are gone. */
  readonly applicationName: string;
  /** n diamonds, c at a time, on a pool of its own that is ended before this returns. */
  run(n: number, c: number): Promise<RunResult>;
  /** Closes the agent connections and drops the schema. */
  close(): Promise<void>;
}

// The orchestrator's default STEP_TIMEOUT_MS, which it sends as timeout_ms on every call.
const stepTimeoutMs = 300_000;

const inputOf = (id: string) => diamond.steps.find((s) => s.id === id)!.input;

const upsertStep = `INSERT INTO floor_steps (workflow_id, step_id, output, finished_at) VALUES ($1, $2, $3, now())
  ON CONFLICT (workflow_id, step_id) DO UPDATE SET output = excluded.output, finished_at = excluded.finished_at`;

export async function createFloor(o: {
  databaseUrl: string;
  schema: string;
  poolSize: number;
  stepUrl: string;
  admin: pg.Client;
}): Promise<Floor> {
  // One statement, so a failure leaves no schema behind.
  await o.admin.query(`CREATE SCHEMA ${o.schema}
    CREATE TABLE floor_workflows (id uuid PRIMARY KEY, status text NOT NULL, input jsonb NOT NULL, finished_at timestamptz)
    CREATE TABLE floor_steps (workflow_id uuid NOT NULL, step_id text NOT NULL, output jsonb NOT NULL, finished_at timestamptz NOT NULL, PRIMARY KEY (workflow_id, step_id))`);
  const applicationName = `bench-floor-${o.schema}`;
  // The transport's own keep-alive settings.
  const dispatcher = new Agent({ connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });

  async function step(db: pg.Pool, workflowId: string, stepId: string, dependencies: Record<string, unknown>): Promise<unknown> {
    const key = `${workflowId}:${stepId}:1`;
    const res = await request(`${o.stepUrl}/execute`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({
        idempotency_key: key,
        task_id: workflowId,
        step_id: stepId,
        attempt: 1,
        input: inputOf(stepId),
        context: { dependencies },
        timeout_ms: stepTimeoutMs,
      }),
    });
    const body = JSON.parse(await res.body.text()) as { status?: string; output?: unknown };
    if (res.statusCode !== 200 || body.status !== 'succeeded' || body.output === undefined)
      throw new Error(`step ${stepId} answered ${res.statusCode}`);
    await db.query(upsertStep, [workflowId, stepId, body.output]);
    return body.output;
  }

  async function workflow(db: pg.Pool): Promise<boolean> {
    // Time-ordered, as the platform's task ids are: the same index locality on both sides.
    const id = uuidv7();
    // The platform's diamond is sent without an input, which it stores as {}.
    await db.query(`INSERT INTO floor_workflows (id, status, input) VALUES ($1, 'running', $2)`, [id, {}]);
    const a = await step(db, id, 'a', {});
    const [b, c] = await Promise.all([step(db, id, 'b', { a }), step(db, id, 'c', { a })]);
    await step(db, id, 'd', { b, c });
    await db.query(`UPDATE floor_workflows SET status = 'succeeded', finished_at = now() WHERE id = $1`, [id]);
    return true;
  }

  return {
    schema: o.schema,
    tables: ['floor_workflows', 'floor_steps'],
    applicationName,
    async run(n, c) {
      // A fresh pool each run, ended at once: its backends flush their table counters as they
      // exit, where idle ones would hold them for ~10 s (and the platform's, idle 10 s, reconnect too).
      const db = new pg.Pool({
        connectionString: o.databaseUrl,
        max: o.poolSize,
        application_name: applicationName,
        options: `-c search_path=${o.schema}`,
      });
      db.on('error', () => {});
      try {
        return await drive(n, c, () => workflow(db));
      } finally {
        await db.end();
      }
    },
    async close() {
      await dispatcher.close();
      await o.admin.query(`DROP SCHEMA IF EXISTS ${o.schema} CASCADE`);
    },
  };
}
