import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { rateLimitStore, store, type Db, type PlanStep } from '../../state/index.ts';
import type { EngineMetrics } from '../metrics.ts';
import type { WorkflowNotifier } from './event-bus.ts';
import { periodMs, readKey } from './flow-control.ts';

export interface GatedCall {
  workflowId: string;
  step: string;
  attempt: number;
  agent: string;
  /** The call's input, references resolved: what a key path reads. */
  input: Record<string, unknown>;
}

interface GateOptions {
  db: Db;
  notifier: WorkflowNotifier;
  log: FastifyBaseLogger;
  /** How long a waiting call or a held slot outlives an orchestrator that stopped renewing it. */
  leaseMs?: number;
  /** How often a waiting call looks again when no slot freed on this replica. */
  pollMs?: number;
}

const noop = () => {};

/**
 * Step-level flow control: before a call goes out, a step's `rate_limit` reserves its time and its
 * `concurrency` takes a slot, both in Postgres (rate-limit-store.ts), so the limits hold across every
 * replica. A call that has to wait says so once in the workflow's events (`step_rate_limited`,
 * `step_queued`). The wait is not part of the step's timeout: that counts from the call going out.
 */
export class CallGate {
  private readonly o: Required<GateOptions>;
  /** Calls waiting here for a slot of a key: a slot freed here wakes them at once. */
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(options: GateOptions) {
    this.o = { leaseMs: 30_000, pollMs: 500, ...options };
  }

  /** Resolves when `call` may go out, with what frees its slot once it is done; rejects when `signal` aborts. */
  async pass(def: PlanStep, call: GatedCall, signal: AbortSignal): Promise<() => void> {
    if (def.rate_limit) await this.rateLimit(def.rate_limit, call, signal);
    return def.concurrency ? this.slot(def.concurrency, call, signal) : noop;
  }

  private async rateLimit(r: NonNullable<PlanStep['rate_limit']>, call: GatedCall, signal: AbortSignal): Promise<void> {
    const key = keyOf(r.key, call);
    const period = periodMs(r.period)!;
    const at = await rateLimitStore.reserve(this.o.db, `call:${key}`, r.limit, period);
    const waitMs = at.getTime() - Date.now();
    if (waitMs < 5) return;
    await this.event(call, 'step_rate_limited', {
      key,
      limit: r.limit,
      period: r.period,
      wait_ms: Math.round(waitMs),
      until: at.toISOString(),
    });
    await sleep(waitMs, undefined, { signal });
  }

  private async slot(c: NonNullable<PlanStep['concurrency']>, call: GatedCall, signal: AbortSignal): Promise<() => void> {
    const key = `call:${keyOf(c.key, call)}`;
    const holder = `${call.workflowId}:${call.step}:${call.attempt}`;
    const { db, leaseMs, pollMs } = this.o;
    let told = false;
    try {
      while (!(await rateLimitStore.takeCallSlot(db, key, holder, c.limit, leaseMs))) {
        if (!told) {
          told = true;
          await this.event(call, 'step_queued', { key: key.slice('call:'.length), limit: c.limit });
        }
        await this.nap(key, pollMs, signal);
      }
    } catch (err) {
      await rateLimitStore.releaseCallSlot(db, key, holder).catch(noop);
      throw err;
    }
    const renew = setInterval(
      () => void rateLimitStore.renewCallSlot(db, key, holder, leaseMs).catch(noop),
      Math.floor(leaseMs / 3),
    ).unref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      clearInterval(renew);
      rateLimitStore
        .releaseCallSlot(db, key, holder)
        .catch((err: unknown) => this.o.log.warn({ err, key }, 'freeing a call slot failed; its lease frees it'))
        .finally(() => {
          for (const wake of this.waiters.get(key) ?? []) wake();
        });
    };
  }

  /** Sets the gauge of calls waiting per key, across replicas. */
  async count(gauge: EngineMetrics['callsQueued']): Promise<void> {
    const counts = await rateLimitStore.waitingCalls(this.o.db);
    gauge.reset();
    for (const { key, n } of counts) gauge.set({ concurrency_key: key.slice('call:'.length) }, n);
  }

  /** Sleeps until a slot of `key` frees here, `ms` pass, or `signal` aborts. */
  private nap(key: string, ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const set = this.waiters.get(key) ?? new Set();
      this.waiters.set(key, set);
      const cleanUp = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(key);
        signal.removeEventListener('abort', aborted);
      };
      const done = () => {
        cleanUp();
        resolve();
      };
      const aborted = () => {
        cleanUp();
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  private async event(call: GatedCall, type: string, data: Record<string, unknown>): Promise<void> {
    await store.appendEvents(this.o.db, call.workflowId, [{ type, step_id: call.step, attempt: call.attempt, data }]);
    this.o.notifier.notify(call.workflowId);
  }
}

/** What a step's calls count by: its key read from the call's input, else the agent. */
function keyOf(expr: string | undefined, call: GatedCall): string {
  if (expr === undefined) return `agent:${call.agent}`;
  const reading = readKey(expr, call.input);
  return 'value' in reading ? reading.value : `agent:${call.agent}`;
}
