import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AppError } from '../../errors/index.ts';
import { bearerToken } from '../../http/index.ts';
import { scopes, type ApiKeyStore } from '../../auth/index.ts';
import { BudgetSchema } from '../../state/index.ts';
import { ErrorReply, ObjectReply } from '../schemas.ts';

const CreateKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, description: 'Who or what uses the key, e.g. "ci-bot"' }),
    scopes: Type.Array(Type.Union(scopes.map((s) => Type.Literal(s))), { minItems: 1, maxItems: 3, description: 'submit, read, admin' }),
    expires_at: Type.Optional(Type.String({ minLength: 1, description: 'When the key stops working (ISO 8601)' })),
    expires_in_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    budget: Type.Optional(BudgetSchema),
  },
  { additionalProperties: false },
);

const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 429: ErrorReply };

/** Key management (every route needs the admin scope), and what a key is (for the services behind this one). */
export const apiKeyRoutes: FastifyPluginAsync<{ keys: ApiKeyStore }> = async (fastify, { keys }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const config = { scope: 'admin' as const };

  // The MCP gateway asks here whether its caller's key is valid; whatever API_AUTH says, the key is checked.
  app.get(
    '/auth/key',
    {
      config: { scope: 'any' },
      schema: {
        tags: ['admin'],
        summary: 'The key in the Authorization header: its id, name and scopes',
        response: { 200: ObjectReply, ...errors },
      },
    },
    async (request) => {
      const presented = bearerToken(request.headers.authorization);
      if (!presented) throw new AppError('UNAUTHORIZED', 'send "Authorization: Bearer <API key>"');
      const principal = request.principal ?? (await keys.verify(presented));
      return { principal: { id: principal.id, name: principal.name, scopes: principal.scopes } };
    },
  );

  app.post(
    '/admin/api-keys',
    {
      config,
      schema: {
        tags: ['admin'],
        summary: 'Create an API key; the key is in this answer only',
        body: CreateKeyBody,
        response: { 201: ObjectReply, ...errors },
      },
    },
    async (request, reply) => {
      const { name, scopes: wanted, expires_at: at, expires_in_days: days } = request.body;
      if (at !== undefined && days !== undefined) throw new AppError('VALIDATION_FAILED', 'give expires_at or expires_in_days, not both');
      const expiresAt = at !== undefined ? new Date(at) : days !== undefined ? new Date(Date.now() + days * 86_400_000) : undefined;
      if (expiresAt && Number.isNaN(expiresAt.getTime())) throw new AppError('VALIDATION_FAILED', `expires_at "${at}" is not a date`);
      if (expiresAt && expiresAt.getTime() <= Date.now())
        throw new AppError('VALIDATION_FAILED', `expires_at ${expiresAt.toISOString()} is not in the future`);
      const { key, record } = await keys.create({ name, scopes: wanted, expiresAt, budget: request.body.budget });
      request.log.info({ keyId: record.id, name, scopes: record.scopes, by: request.principal?.id }, 'API key created');
      return reply.status(201).send({ ...record, key });
    },
  );

  app.get(
    '/admin/api-keys',
    {
      config,
      schema: { tags: ['admin'], summary: 'Every key, without secrets', response: { 200: ObjectReply, ...errors } },
    },
    async () => ({ keys: await keys.list() }),
  );

  app.delete(
    '/admin/api-keys/:id',
    {
      config,
      schema: {
        tags: ['admin'],
        summary: 'Revoke a key at once',
        params: Type.Object({ id: Type.String({ pattern: '^[a-z0-9]{1,64}$' }) }),
        response: { 200: ObjectReply, ...errors },
      },
    },
    async (request) => {
      const record = await keys.revoke(request.params.id);
      request.log.info({ keyId: record.id, by: request.principal?.id }, 'API key revoked');
      return record;
    },
  );
};
