import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '../../services/errors/index.ts';
import { Counter } from 'prom-client';
import {
  checkedExecuteRequest,
  deadLetterStream,
  failedAnswer,
  fieldsOf,
  requestStream,
  requireInternalToken,
  type StreamEntries,
} from '../../services/protocol/index.ts';
import type { ProgressSend } from './progress-channel.ts';
import type { AgentRuntime } from './runtime.ts';

export interface StreamWorkerOptions {
  /** This replica's name in the consumer group. */
  consumer?: string;
  /** An entry another consumer has held this long without acking is taken over (its consumer died). */
  claimIdleMs: number;
  concurrency: number;
  blockMs?: number;
  log: FastifyBaseLogger;
  /** Called after the handler, before the result is sent and the entry acked (crash tests use it). */
  afterHandler?: (entryId: string) => Promise<void> | void;
  /** An entry delivered more often than this (its handler kept dying) goes to the dead-letter stream. */
  maxDeliveries?: number;
  /** When set, an entry runs only if it carries this token (as the orchestrator's do); others are refused. */
  internalToken?: string | undefined;
}

/**
 * Reads `agent.<name>.requests` in consumer group `<name>`: every replica of the agent joins the
 * same group, so adding replicas spreads the work with no code change. An entry is acked only after
 * its result is on the caller's result stream; entries a dead consumer left pending are claimed
 * (XAUTOCLAIM) and run again, and the idempotency store (Redis, shared) keeps the effect single.
 * An entry claimed more than `maxDeliveries` times (its handler kills every consumer that takes it)
 * goes to `agent.<name>.dead` and its caller gets a failure, instead of going round forever. When
 * the group is gone (Redis restarted without its data) it is made again.
 */
export function startStreamWorker(
  agent: string,
  runtime: AgentRuntime,
  redis: Redis,
  options: StreamWorkerOptions,
): { stop(): Promise<void>; consumer: string } {
  const stream = requestStream(agent);
  const group = agent;
  const consumer = options.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // XREADGROUP BLOCK holds its connection: commands go on a connection of their own.
  const reader = redis.duplicate();
  let stopping = false;
  const inflight = new Set<Promise<void>>();
  let lastClaim = 0;
  const maxDeliveries = options.maxDeliveries ?? 5;
  const deadLetters =
    (runtime.registry.getSingleMetric('stream_dead_letters_total') as Counter<'agent'> | undefined) ??
    new Counter({
      name: 'stream_dead_letters_total',
      help: 'Request stream entries given up after too many deliveries',
      labelNames: ['agent'],
      registers: [runtime.registry],
    });

  async function ensureGroup(): Promise<void> {
    try {
      await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  async function reply(
    f: Record<string, string | undefined>,
    entryId: string,
    statusCode: number,
    body: Record<string, unknown>,
    replayed: boolean,
  ): Promise<void> {
    if (f.reply_to)
      await redis.xadd(
        f.reply_to,
        'MAXLEN',
        '~',
        '10000',
        '*',
        'id',
        f.id ?? entryId,
        'status',
        String(statusCode),
        'body',
        JSON.stringify(body),
        'replayed',
        replayed ? '1' : '0',
      );
  }

  /**
   * Progress goes to the caller's result stream as entries typed `progress`, only when the call asks
   * for it (`progress: '1'`): an older caller would take any entry with its id for the answer. One
   * XADD at a time per call; the SDK merges what comes meanwhile.
   */
  function progressTo(f: Record<string, string | undefined>, entryId: string): ProgressSend | undefined {
    const replyTo = f.reply_to;
    if (!replyTo || f.progress !== '1') return undefined;
    return (data) =>
      redis.xadd(replyTo, 'MAXLEN', '~', '10000', '*', 'id', f.id ?? entryId, 'type', 'progress', 'data', JSON.stringify(data));
  }

  /** Entries claimed too often go to the dead-letter stream, their callers told; the others run. */
  async function triage(entries: StreamEntries): Promise<StreamEntries> {
    if (entries.length === 0) return entries;
    const pending = (await redis.xpending(stream, group, entries[0][0], entries.at(-1)![0], entries.length * 2)) as Array<
      [string, string, number, number]
    >;
    const deliveries = new Map(pending.map(([id, , , n]) => [id, Number(n)]));
    const keep: StreamEntries = [];
    for (const [id, flat] of entries) {
      const n = deliveries.get(id) ?? 0;
      if (n <= maxDeliveries) {
        keep.push([id, flat]);
        continue;
      }
      const f = fieldsOf(flat);
      await redis.xadd(deadLetterStream(agent), 'MAXLEN', '~', '10000', '*', 'entry', id, 'deliveries', String(n), ...flat);
      const e = new AppError(
        'AGENT_ERROR',
        `agent "${agent}" gave up on stream entry ${id} after ${n} deliveries (each consumer that took it died); it is in ${deadLetterStream(agent)}`,
        { retryable: false },
      );
      await reply(f, id, e.statusCode, failedAnswer(e), false);
      await redis.xack(stream, group, id);
      deadLetters.inc({ agent });
      options.log.error({ agent, entryId: id, deliveries: n }, 'stream entry dead-lettered');
    }
    return keep;
  }

  async function handle(entryId: string, flat: string[]): Promise<void> {
    const f = fieldsOf(flat);
    let statusCode: number;
    let body: Record<string, unknown>;
    let replayed = false;
    try {
      // Whoever can write to Redis could add an entry: without the platform's token it does not run.
      requireInternalToken(f.authorization, options.internalToken, agent);
      const request = checkedExecuteRequest(JSON.parse(f.body ?? ''));
      const result = await runtime.execute(request, options.log, f, progressTo(f, entryId));
      ({ statusCode, body } = result.response);
      replayed = result.replayed;
      await options.afterHandler?.(entryId);
    } catch (err) {
      const e =
        err instanceof AppError
          ? err
          : new AppError('VALIDATION_FAILED', `stream entry ${entryId} is not a call: ${(err as Error).message}`);
      statusCode = e.statusCode;
      body = failedAnswer(e);
    }
    await reply(f, entryId, statusCode, body, replayed);
    await redis.xack(stream, group, entryId);
  }

  function dispatch(entries: StreamEntries): void {
    for (const [id, flat] of entries) {
      const p = handle(id, flat).catch((err: unknown) =>
        options.log.error({ err, entryId: id }, 'stream entry failed; it stays pending and will be claimed again'),
      );
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  }

  const loop = (async () => {
    await ensureGroup();
    while (!stopping) {
      try {
        if (Date.now() - lastClaim >= Math.min(options.claimIdleMs, 5_000)) {
          lastClaim = Date.now();
          const claimed = (await redis.xautoclaim(stream, group, consumer, options.claimIdleMs, '0-0', 'COUNT', 10)) as [
            string,
            StreamEntries,
            unknown,
          ];
          if (claimed[1].length > 0)
            options.log.info({ agent, entries: claimed[1].map(([id]) => id) }, 'claimed entries a dead consumer left pending');
          dispatch(await triage(claimed[1]));
        }
        const room = options.concurrency - inflight.size;
        if (room <= 0) {
          await Promise.race(inflight);
          continue;
        }
        const res = (await reader.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          room,
          'BLOCK',
          options.blockMs ?? 1_000,
          'STREAMS',
          stream,
          '>',
        )) as Array<[string, StreamEntries]> | null;
        if (res) dispatch(res[0][1]);
      } catch (err) {
        if (stopping) break;
        if (String((err as Error).message).includes('NOGROUP')) {
          // Redis lost the stream and its group (restarted without its data): make them again.
          options.log.warn({ agent }, 'consumer group was gone (Redis lost its data?); creating it again');
          await ensureGroup().catch((e: unknown) => options.log.error({ err: e }, 'could not create the consumer group'));
          continue;
        }
        options.log.error({ err }, 'stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

  return {
    consumer,
    async stop() {
      stopping = true;
      reader.disconnect();
      await loop.catch(() => {});
      await Promise.allSettled([...inflight]);
    },
  };
}
