import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { AppError } from '../../errors/index.ts';
import { traceHeaders } from '../../telemetry/index.ts';
import { internalAuthorization } from '../internal-token.ts';
import { progressFrom } from '../progress.ts';
import { fieldsOf, requestStream, resultStream } from '../streams.ts';
import { replyFrom } from './reply.ts';
import type { AgentReply, AgentTransport, OnProgress } from './types.ts';

/**
 * Calls agents through Redis Streams: a call is an entry on `agent.<name>.requests`, read by the
 * agent's consumer group; the answer comes back on this orchestrator's own result stream. If this
 * orchestrator dies, whoever resumes the workflow sends the call again with the same idempotency
 * key and gets the stored answer on its own stream. If Redis restarts without its data (a new
 * run_id), the calls still waiting are sent again, with the same keys: their entries are gone.
 */
export function createStreamTransport(
  redis: Redis,
  options: {
    owner: string;
    agents: string[];
    registry: Registry;
    log: FastifyBaseLogger;
    info: AgentTransport['info'];
    internalToken?: string | undefined;
  },
): AgentTransport {
  // Each entry carries the internal token, as HTTP calls do: a replica runs only what the platform sent.
  const auth = options.internalToken ? ['authorization', internalAuthorization(options.internalToken)] : [];
  const results = resultStream(options.owner);
  const reader = redis.duplicate();
  const pending = new Map<
    string,
    { resolve: (r: AgentReply) => void; reject: (e: unknown) => void; send: () => Promise<unknown>; onProgress: OnProgress | undefined }
  >();
  let stopping = false;
  let lastId = '$';
  let runId: string | undefined;

  const serverRunId = async () => /run_id:(\w+)/.exec(await redis.info('server'))?.[1];
  void serverRunId().then(
    (id) => (runId ??= id),
    () => {},
  );
  redis.on('ready', () => {
    void (async () => {
      const now = await serverRunId();
      const lost = runId !== undefined && now !== undefined && now !== runId;
      runId = now ?? runId;
      if (!lost || pending.size === 0) return;
      options.log.warn({ calls: pending.size }, 'Redis restarted without its data; sending the calls still waiting again');
      for (const p of pending.values()) await p.send().catch((err: unknown) => options.log.error({ err }, 'could not send a call again'));
    })().catch(() => {});
  });

  new Gauge({
    name: 'queue_depth',
    help: 'Calls waiting for an agent on its request stream: not yet read, plus read and not yet acked',
    labelNames: ['agent'],
    registers: [options.registry],
    async collect() {
      for (const agent of options.agents) this.set({ agent }, await depthOf(agent).catch(() => 0));
    },
  });

  async function depthOf(agent: string): Promise<number> {
    const groups = (await redis.xinfo('GROUPS', requestStream(agent))) as Array<Array<string | number | null>>;
    const group = groups.map((g) => Object.fromEntries(chunk(g))).find((g) => g.name === agent);
    if (!group) return Number(await redis.xlen(requestStream(agent)));
    return Number(group.lag ?? 0) + Number(group.pending ?? 0);
  }

  const loop = (async () => {
    while (!stopping) {
      try {
        const res = await reader.xread('COUNT', 100, 'BLOCK', 1_000, 'STREAMS', results, lastId);
        if (!res) continue;
        for (const [id, flat] of res[0][1]) {
          lastId = id;
          const f = fieldsOf(flat);
          const waiter = f.id ? pending.get(f.id) : undefined;
          if (!waiter) continue;
          // Progress entries come before the answer, on the same stream, typed so they are not taken for it.
          if (f.type === 'progress') {
            const data = progressFrom(f.data);
            if (data) waiter.onProgress?.(data);
            continue;
          }
          pending.delete(f.id);
          try {
            waiter.resolve(
              replyFrom(Number(f.status), JSON.parse(f.body ?? '{}') as Record<string, unknown>, f.replayed === '1', 'stream'),
            );
          } catch (err) {
            waiter.reject(err);
          }
        }
        await redis.xtrim(results, 'MAXLEN', '~', 10_000);
      } catch (err) {
        if (stopping) break;
        options.log.error({ err }, 'result stream read failed; retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();

  return {
    name: 'stream',
    async call(agent, request, signal, onProgress) {
      const id = randomUUID();
      const trace = Object.entries(traceHeaders()).flat();
      // The agent sends progress entries only to a caller that says it reads them.
      const wantsProgress = onProgress ? ['progress', '1'] : [];
      const send = () =>
        redis.xadd(
          requestStream(agent),
          '*',
          'id',
          id,
          'reply_to',
          results,
          'body',
          JSON.stringify(request),
          ...wantsProgress,
          ...auth,
          ...trace,
        );
      const answer = new Promise<AgentReply>((resolve, reject) => {
        pending.set(id, { resolve, reject, send, onProgress });
        signal.addEventListener(
          'abort',
          () => {
            pending.delete(id);
            reject(signal.reason instanceof AppError ? signal.reason : new AppError('CANCELLED', `call to agent "${agent}" was aborted`));
          },
          { once: true },
        );
      });
      try {
        await send();
      } catch (err) {
        pending.delete(id);
        throw new AppError('AGENT_UNAVAILABLE', `cannot queue a call for agent "${agent}": ${(err as Error).message}`, { cause: err });
      }
      return answer;
    },
    info: options.info,
    async close() {
      stopping = true;
      reader.disconnect();
      await loop.catch(() => {});
      for (const w of pending.values()) w.reject(new AppError('SHUTTING_DOWN', 'orchestrator is shutting down'));
      pending.clear();
    },
  };
}

function chunk(flat: Array<string | number | null>): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([String(flat[i]), flat[i + 1]]);
  return out;
}
