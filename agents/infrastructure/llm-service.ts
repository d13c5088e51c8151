import { Type, type Static } from 'typebox';
import type { LlmGateway } from '../../services/llm/index.ts';

/** What the model proposes for a service the catalog does not know; the compose checks still judge it. */
export const ProposedService = Type.Object({
  name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$' }),
  image: Type.String({ minLength: 1 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  env: Type.Optional(Type.Record(Type.String(), Type.String())),
  volumes: Type.Optional(Type.Array(Type.String())),
  healthcheck: Type.Optional(
    Type.Array(Type.String(), { description: 'Docker healthcheck test, e.g. ["CMD", "wget", "-qO-", "http://localhost:8080/health"]' }),
  ),
});

export type Proposal = Static<typeof ProposedService>;

/** `onDelta` hears the model's answer as it is written (the agent shows it as progress). */
export async function proposeService(
  llm: LlmGateway,
  task: string,
  signal: AbortSignal,
  onDelta?: (text: string) => void,
): Promise<Proposal> {
  const { value } = await llm.structured({
    name: 'compose_service',
    schema: ProposedService,
    temperature: 0,
    signal,
    ...(onDelta ? { onDelta } : {}),
    messages: [
      {
        role: 'system',
        content:
          'You propose one Docker Compose service for a deployment request. Use a real, public, pinned image tag; the port the ' +
          'service listens on inside the container; environment variables it needs (secrets as ${VAR} references, never values); ' +
          'named volumes "name:/path" for its data; and a healthcheck test array. Answer with JSON only.',
      },
      { role: 'user', content: task },
    ],
  });
  return value;
}
