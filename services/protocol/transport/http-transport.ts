import { createInterface } from 'node:readline';
import Value from 'typebox/value';
import { Agent, request, type Dispatcher } from 'undici';
import { AppError } from '../../errors/index.ts';
import type { Discovery } from '../../discovery/index.ts';
import type { OutlierEjection } from '../../resilience/index.ts';
import { internalAuthorization } from '../internal-token.ts';
import { CheckVerdict, type CheckRequest } from '../check.ts';
import type { ExecuteRequest } from '../messages.ts';
import { NDJSON, progressFrom, type StreamedLine } from '../progress.ts';
import { replyFrom } from './reply.ts';
import type { AgentReply, AgentTransport, OnProgress } from './types.ts';

// The instance could not take the call: it refused or dropped the connection, or said it is going
// away (503). Another instance can, at once, with the same idempotency key.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

class InstanceDown extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export interface HttpTransportOptions {
  connectionsPerAgent?: number;
  internalToken?: string | undefined;
  /** Instances this orchestrator saw fail are left out for a while; without it, every instance is tried as discovery gives it. */
  outliers?: OutlierEjection;
}

export function createHttpTransport(discovery: Discovery, options: HttpTransportOptions = {}): AgentTransport {
  const auth: Record<string, string> = options.internalToken ? { authorization: internalAuthorization(options.internalToken) } : {};
  // Keep-alive pool shared by every call: connection setup would otherwise dominate short steps.
  const dispatcher = new Agent({ connections: options.connectionsPerAgent ?? 128, keepAliveTimeout: 30_000, pipelining: 1 });
  const outliers = options.outliers;

  async function once(
    agent: string,
    url: string,
    init: { method: 'GET' | 'POST'; body?: string; headers?: Record<string, string> },
    signal: AbortSignal,
    onProgress?: OnProgress,
  ) {
    try {
      // Trace context goes in the headers through the undici instrumentation (its client span is the parent).
      const res = await request(url, {
        ...init,
        signal,
        dispatcher,
        headers: { 'content-type': 'application/json', ...auth, ...init.headers },
      });
      if (String(res.headers['content-type'] ?? '').startsWith(NDJSON)) return await streamed(agent, res, onProgress);
      const text = await res.body.text();
      if (res.statusCode === 503) throw new InstanceDown('503', `answered 503: ${text.slice(0, 200)}`);
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        throw new AppError('AGENT_ERROR', `agent "${agent}" answered ${res.statusCode} with a body that is not JSON`);
      }
      return { statusCode: res.statusCode, body, replayed: res.headers['idempotent-replayed'] === 'true' };
    } catch (err) {
      if (err instanceof AppError || err instanceof InstanceDown) throw err;
      if (signal.aborted)
        throw signal.reason instanceof AppError ? signal.reason : new AppError('CANCELLED', `call to agent "${agent}" was aborted`);
      const code = (err as { code?: string }).code ?? '';
      if (UNREACHABLE.has(code)) throw new InstanceDown(code, code);
      throw new AppError('AGENT_UNAVAILABLE', `agent "${agent}" at ${url} cannot be reached: ${code || (err as Error).message}`, {
        cause: err,
      });
    }
  }

  /**
   * The streamed answer (the caller asked with Accept: application/x-ndjson and the agent reported
   * progress): progress lines as they come, then the result line. A stream that ends without its
   * result is an agent that went away mid-call: the next instance gets the call, with the same key.
   */
  async function streamed(agent: string, res: Dispatcher.ResponseData, onProgress: OnProgress | undefined) {
    let result: { statusCode: number; body: Record<string, unknown>; replayed: boolean } | undefined;
    for await (const line of createInterface({ input: res.body, crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      let msg: StreamedLine;
      try {
        msg = JSON.parse(line) as StreamedLine;
      } catch {
        throw new AppError('AGENT_ERROR', `agent "${agent}" sent a streamed line that is not JSON: ${line.slice(0, 200)}`);
      }
      // Progress that is not ProgressData (an agent of another version, say) is left out, never fatal.
      if (msg.type === 'progress') {
        const data = result ? undefined : progressFrom(msg.data);
        if (data) onProgress?.(data);
      } else if (msg.type === 'result') result = { statusCode: msg.status_code, body: msg.body ?? {}, replayed: msg.replayed === true };
    }
    if (!result) throw new InstanceDown('EOF', 'its streamed answer ended before the result');
    return result;
  }

  /**
   * One call, on the first instance that takes it: an instance that cannot (refused, dropped, 503)
   * is reported and the next is tried at once. Only when none is left does the call fail,
   * AGENT_UNAVAILABLE naming what was tried (the step then waits, without using up an attempt).
   */
  async function send(
    agent: string,
    path: string,
    init: { method: 'GET' | 'POST'; body?: string; headers?: Record<string, string> },
    signal: AbortSignal,
    key?: string,
    onProgress?: OnProgress,
  ) {
    const tried = new Map<string, string>();
    for (;;) {
      // Left-out instances are tried last, when no other is left (Envoy's panic mode): a lone
      // instance that was down gets the next call as soon as the step tries again.
      const instance =
        discovery.pick(agent, (url) => !tried.has(url) && (outliers?.usable(url) ?? true), key) ??
        discovery.pick(agent, (url) => !tried.has(url), key);
      if (!instance) {
        const what =
          tried.size > 0
            ? `none of its instances took the call (${[...tried].map(([url, why]) => `${url}: ${why}`).join('; ')})`
            : `no healthy instance is known to ${discovery.kind} discovery`;
        throw new AppError('AGENT_UNAVAILABLE', `agent "${agent}": ${what}`, { details: { agent, tried: [...tried.keys()] } });
      }
      try {
        const res = await once(agent, instance.url + path, init, signal, onProgress);
        outliers?.succeeded(instance.url);
        return res;
      } catch (err) {
        if (!(err instanceof InstanceDown)) throw err;
        outliers?.failed(agent, instance.url);
        tried.set(instance.url, err.message);
      } finally {
        instance.release();
      }
    }
  }

  return {
    name: 'http',
    async call(agent: string, req: ExecuteRequest, signal: AbortSignal, onProgress?: OnProgress): Promise<AgentReply> {
      const headers: Record<string, string> = { 'idempotency-key': req.idempotency_key };
      if (onProgress) headers.accept = `${NDJSON}, application/json`;
      const res = await send(
        agent,
        '/execute',
        { method: 'POST', body: JSON.stringify(req), headers },
        signal,
        req.idempotency_key,
        onProgress,
      );
      return replyFrom(res.statusCode, { agent, ...res.body }, res.replayed, 'http');
    },
    async info(agent: string, signal: AbortSignal) {
      const res = await send(agent, '/info', { method: 'GET' }, signal);
      if (res.statusCode !== 200) throw new AppError('AGENT_ERROR', `agent "${agent}" /info answered ${res.statusCode}`);
      return res.body;
    },
    async check(agent: string, req: CheckRequest, signal: AbortSignal) {
      const res = await send(agent, '/check', { method: 'POST', body: JSON.stringify(req) }, signal);
      if (res.statusCode !== 200 || !Value.Check(CheckVerdict, res.body))
        throw new AppError('AGENT_ERROR', `agent "${agent}" /check answered ${res.statusCode} without a verdict`);
      return res.body;
    },
    async close() {
      await dispatcher.close();
    },
  };
}
