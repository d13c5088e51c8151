import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { store, type Queryable } from '../../state/index.ts';
import type { Progress } from './decider/index.ts';

export interface GroupCommitOptions {
  db: Queryable;
  lease: store.Lease;
  log: FastifyBaseLogger;
  /** Most workflows in one statement. */
  maxBatch: number;
  /** Statements in flight at once; while they run, the next batch gathers. */
  maxInFlight: number;
  /** Tries of a commit that fails for a database error before it is given up (the lease then runs out). */
  maxTries: number;
  /**
   * How long a commit marked `linger` may wait for a later commit of its workflow to share its
   * statement (0: it goes as any other).
   */
  lingerMs?: number;
  /** Told with each statement's size (metrics). */
  onBatch?: (size: number) => void;
}

/** A new workflow (its row, first attempts and events), or progress of a running one. */
type Job = { kind: 'insert'; row: store.InsertWorkflow } | { kind: 'progress'; progress: Progress };

type Pending = Job & {
  workflowId: string;
  resolve: (ok: boolean) => void;
  /** Failed in a batch before: goes alone, so one bad member cannot fail the others again. */
  tries: number;
  /** Until then (performance.now()) it may wait for a later commit of its workflow (see `take`). */
  lingerUntil: number;
};

/**
 * Group commit for every workflow this orchestrator runs. Commits of concurrent workflows go to
 * Postgres as one statement (one transaction, one WAL flush) instead of one each: a batch is sent at
 * once when a slot is free, and while statements are in flight the next batch gathers, bounded by
 * `maxBatch`; at low load nothing waits. Guarantees are those of one commit per step:
 * - a commit resolves true only once it is durable (and false, writing nothing, when the lease is lost);
 * - one workflow's commits are applied in the order they were made: a workflow has at most one
 *   statement in flight, and its queued commits that can share a statement are merged in order;
 * - a statement that fails wrote nothing; each member is then tried again alone, so a member either
 *   commits whole or not at all, never half.
 */
export class GroupCommitter {
  private readonly options: GroupCommitOptions;
  private readonly queue: Pending[] = [];
  /** Workflows with a statement in flight: their next commits wait for it. */
  private readonly busy = new Set<string>();
  private inFlight = 0;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | undefined;
  private idle: Array<() => void> = [];

  constructor(options: GroupCommitOptions) {
    this.options = options;
  }

  /** Resolves once nothing is queued or in flight. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Writes a new workflow; false when its id or idempotency key is taken (nothing was written). */
  insert(row: store.InsertWorkflow): Promise<boolean> {
    return this.enqueue({ kind: 'insert', row }, row.id);
  }

  /**
   * Writes a workflow's progress. With `linger`, nothing waits on this commit but its own
   * durability and another of the workflow's steps is still running: it may wait up to `lingerMs`
   * for that step's commit, so the two share one statement (sibling steps that finish together
   * then cost one commit on the workflow's path instead of two, one after the other).
   */
  commit(workflowId: string, progress: Progress, linger = false): Promise<boolean> {
    const lingerMs = this.options.lingerMs ?? 0;
    return this.enqueue({ kind: 'progress', progress }, workflowId, linger && lingerMs > 0 ? performance.now() + lingerMs : 0);
  }

  private enqueue(job: Job, workflowId: string, lingerUntil = 0): Promise<boolean> {
    return new Promise((resolve) => {
      this.queue.push({ ...job, workflowId, resolve, tries: 0, lingerUntil });
      // Flushed once the I/O callbacks of this turn have run: commits made by answers that arrived
      // together go in one statement, and none waits longer than that turn.
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight) {
      const batch = this.take();
      if (batch.length === 0) break;
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        for (const group of batch) this.busy.delete(group[0].workflowId);
        this.flush();
      });
    }
    if (this.queue.length === 0 && this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
    this.wakeForLingering();
  }

  /** A commit left waiting for its workflow's next one goes on its own once its time is up. */
  private wakeForLingering(): void {
    if (this.lingerTimer) return;
    let until = Infinity;
    for (const p of this.queue) if (p.lingerUntil > 0) until = Math.min(until, p.lingerUntil);
    if (until === Infinity) return;
    this.lingerTimer = setTimeout(
      () => {
        this.lingerTimer = undefined;
        this.flush();
      },
      Math.max(0, until - performance.now()),
    );
  }

  /**
   * The next batch, of one kind (inserts or progress, whichever waited longest): for each workflow
   * with nothing in flight, its oldest queued commits that can share a statement. A commit left in
   * the queue holds back the later ones of its workflow. A commit that failed in a statement before
   * goes alone. Lingering commits are held back, while their time lasts, only when they are all a
   * statement would carry: one that goes anyway takes them along, and a later commit of the
   * workflow joins its lingering one.
   */
  private take(): Pending[][] {
    const batch = new Map<string, Pending[]>();
    const held = new Set<string>();
    const rest: Pending[] = [];
    let solo = false;
    let kind: Job['kind'] | undefined;
    const now = performance.now();
    const queued = new Map<string, number>();
    for (const p of this.queue) queued.set(p.workflowId, (queued.get(p.workflowId) ?? 0) + 1);
    const lingers = (p: Pending) => p.lingerUntil > now && queued.get(p.workflowId) === 1;
    const hold = this.queue.every((p) => lingers(p) || this.busy.has(p.workflowId));
    for (const p of this.queue) {
      const id = p.workflowId;
      const group = batch.get(id);
      const fits =
        !(hold && lingers(p)) &&
        !solo &&
        !this.busy.has(id) &&
        !held.has(id) &&
        (p.tries === 0 || batch.size === 0) &&
        (kind === undefined || p.kind === kind) &&
        (group ? p.tries === 0 && mergeable(group.at(-1)!, p) : batch.size < this.options.maxBatch);
      if (!fits) {
        rest.push(p);
        held.add(id);
        continue;
      }
      p.lingerUntil = 0;
      if (group) group.push(p);
      else batch.set(id, [p]);
      solo = p.tries > 0;
      kind = p.kind;
    }
    this.queue.splice(0, this.queue.length, ...rest);
    for (const id of batch.keys()) this.busy.add(id);
    return [...batch.values()];
  }

  private async send(batch: Pending[][]): Promise<void> {
    try {
      const first = batch[0][0];
      const committed =
        first.kind === 'insert'
          ? await store.insertWorkflows(
              this.options.db,
              batch.map((g) => (g[0] as Extract<Pending, { kind: 'insert' }>).row),
            )
          : await store.commitBatch(this.options.db, this.options.lease, batch.map(member));
      this.options.onBatch?.(batch.length);
      for (const group of batch) for (const p of group) p.resolve(committed.has(p.workflowId));
    } catch (err) {
      // Nothing of the statement was written. Each commit goes again, alone, after a pause.
      const tries = Math.max(...batch.flat().map((p) => p.tries)) + 1;
      if (batch.length === 1 && batch[0].length === 1 && tries >= this.options.maxTries) {
        this.options.log.error({ err, workflowId: batch[0][0].workflowId }, 'checkpoint write failed; leaving the workflow to recovery');
        batch[0][0].resolve(false);
        return;
      }
      this.options.log.warn({ err, workflows: batch.length }, 'group commit failed; trying each workflow alone');
      await sleep(50 * 2 ** Math.min(tries - 1, 4));
      // Back at the front, in their order, so each workflow's commits stay in order.
      this.queue.unshift(...batch.flat().map((p) => ({ ...p, tries, lingerUntil: 0 })));
    }
  }
}

/** Two commits of one workflow can be one: neither rewinds steps (a loop) nor ends or parks it. */
function mergeable(x: Pending, y: Pending): boolean {
  if (x.kind !== 'progress' || y.kind !== 'progress') return false;
  const [a, b] = [x.progress, y.progress];
  return !a.supersede?.length && !b.supersede?.length && !a.final && !b.final && !a.park && !b.park;
}

/** A workflow's queued commits as one member of the statement, applied in order. */
function member(group: Pending[]): store.CommitMember {
  const out: store.CommitMember = { workflowId: group[0].workflowId, finished: [] };
  for (const job of group) {
    if (job.kind !== 'progress') continue;
    const p = job.progress;
    if (p.step) out.finished.push(p.step);
    if (p.supersede) out.supersede = [...(out.supersede ?? []), ...p.supersede];
    if (p.newSteps) out.newSteps = [...(out.newSteps ?? []), ...p.newSteps];
    if (p.events) out.events = [...(out.events ?? []), ...p.events];
    if (p.decisions) out.decisions = [...(out.decisions ?? []), ...p.decisions];
    if (p.final) out.final = p.final;
    if (p.park) out.park = p.park;
  }
  return out;
}
