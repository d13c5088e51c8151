import { AppError } from '../../services/errors/index.ts';
import { internalAuthorization } from '../../services/protocol/index.ts';
import type { KnowledgeHit } from './types.ts';

/** GET <knowledge>/search; an agent without a knowledge service simply gets no context. */
export async function searchKnowledge(
  baseUrl: string | undefined,
  query: string,
  limit: number,
  signal: AbortSignal,
  internalToken?: string,
): Promise<KnowledgeHit[]> {
  if (!baseUrl) return [];
  const url = `${baseUrl}/search?q=${encodeURIComponent(query)}&limit=${limit}`;
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
      ...(internalToken ? { headers: { authorization: internalAuthorization(internalToken) } } : {}),
    });
  } catch (err) {
    throw new AppError('AGENT_UNAVAILABLE', `knowledge service at ${baseUrl} cannot be reached: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) throw new AppError('AGENT_ERROR', `knowledge search answered ${res.status}`);
  const body = (await res.json()) as { results: KnowledgeHit[] };
  return body.results;
}
