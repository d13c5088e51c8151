import { Agent, request } from 'undici';
import { AppError } from '../../errors/index.ts';
import type { Discovery } from '../../discovery/index.ts';
import { internalAuthorization } from '../../../agents/sdk/internal-auth.ts';
import { replyFrom } from './reply.ts';
import type { AgentReply, AgentRequest, AgentTransport } from './types.ts';

export function createHttpTransport(discovery: Discovery, options: { connectionsPerAgent?: number; internalToken?: string | undefined } = {}): AgentTransport {
  const auth: Record<string, string> = options.internalToken ? { authorization: internalAuthorization(options.internalToken) } : {};
  // Keep-alive pool shared by every call: connection setup would otherwise dominate short steps.
  const dispatcher = new Agent({ connections: options.connectionsPerAgent ?? 128, keepAliveTimeout: 30_000, pipelining: 1 });

  function instanceOf(agent: string) {
    const instance = discovery.pick(agent);
    if (!instance) throw new AppError('AGENT_UNAVAILABLE', `no healthy instance of agent "${agent}" is known to ${discovery.kind} discovery`);
    return instance;
  }

  async function send(agent: string, path: string, init: { method: 'GET' | 'POST'; body?: string; headers?: Record<string, string> }, signal: AbortSignal) {
    const instance = instanceOf(agent);
    const url = instance.url + path;
    try {
      // Trace context goes in the headers through the undici instrumentation (its client span is the parent).
      const res = await request(url, { ...init, signal, dispatcher, headers: { 'content-type': 'application/json', ...auth, ...init.headers } });
      const text = await res.body.text();
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        throw new AppError('AGENT_ERROR', `agent "${agent}" answered ${res.statusCode} with a body that is not JSON`);
      }
      return { statusCode: res.statusCode, body, replayed: res.headers['idempotent-replayed'] === 'true' };
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (signal.aborted) throw signal.reason instanceof AppError ? signal.reason : new AppError('CANCELLED', `call to agent "${agent}" was aborted`);
      // Unreachable, reset or closed mid-call: another attempt (or instance) may succeed.
      const code = (err as { code?: string }).code ?? '';
      throw new AppError('AGENT_UNAVAILABLE', `agent "${agent}" at ${url} cannot be reached: ${code || (err as Error).message}`, { cause: err });
    } finally {
      instance.release();
    }
  }

  return {
    name: 'http',
    async call(agent: string, req: AgentRequest, signal: AbortSignal): Promise<AgentReply> {
      const res = await send(agent, '/execute', { method: 'POST', body: JSON.stringify(req), headers: { 'idempotency-key': req.idempotency_key } }, signal);
      return replyFrom(res.statusCode, { agent, ...res.body }, res.replayed, 'http');
    },
    async info(agent: string, signal: AbortSignal) {
      const res = await send(agent, '/info', { method: 'GET' }, signal);
      if (res.statusCode !== 200) throw new AppError('AGENT_ERROR', `agent "${agent}" /info answered ${res.statusCode}`);
      return res.body;
    },
    async close() {
      await dispatcher.close();
    },
  };
}
