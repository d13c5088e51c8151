import Fastify, { type FastifyInstance } from 'fastify';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { errorHandlerPlugin, healthPlugin, serverOptions, useStrictBodies } from '../http/index.ts';
import { createRegistry } from '../telemetry/index.ts';
import { gatewayDoor } from './door.ts';
import { createPlatformClient } from './platform-client.ts';
import { registerTools } from './tools.ts';

export interface McpGatewayOptions {
  orchestratorUrl: string;
  knowledgeUrl: string | undefined;
  logLevel?: string;
  bodyLimitBytes?: number;
  requestTimeoutMs?: number;
  /** With it, callers show it or an API key (see door.ts). */
  internalToken?: string | undefined;
  /** Host names besides loopback, and browser Origins, the gateway answers. */
  allowedHosts?: readonly string[];
  allowedOrigins?: readonly string[];
}

const notAllowed = {
  jsonrpc: '2.0',
  error: { code: -32000, message: 'Method not allowed: this gateway is stateless, POST /mcp' },
  id: null,
};

/**
 * The platform's tools over MCP (streamable HTTP, stateless: every POST /mcp gets its own server
 * and transport, so any replica can answer any request). Builds; never listens.
 */
export function buildMcpGatewayApp(options: McpGatewayOptions): FastifyInstance {
  const app = Fastify(
    serverOptions('mcp-gateway', { logLevel: options.logLevel ?? 'info', bodyLimit: options.bodyLimitBytes ?? 1_048_576 }),
  );
  useStrictBodies(app);
  const platform = createPlatformClient(
    { orchestrator: options.orchestratorUrl, knowledge: options.knowledgeUrl },
    options.requestTimeoutMs ?? 600_000,
  );
  const registry = createRegistry('mcp-gateway');

  void app.register(errorHandlerPlugin);
  void app.register(healthPlugin, {
    registry,
    checkReady: async () => {
      const res = await platform.call('orchestrator', 'GET', '/health');
      if (res.status !== 200)
        throw new Error(`orchestrator at ${options.orchestratorUrl} is not healthy: ${String(res.body.message ?? res.status)}`);
      return { orchestrator: 'ok' };
    },
  });

  const door = gatewayDoor({
    internalToken: options.internalToken,
    allowedHosts: options.allowedHosts ?? [],
    allowedOrigins: options.allowedOrigins ?? [],
    platform,
  });
  app.post(
    '/mcp',
    { onRequest: door, schema: { tags: ['mcp'], summary: 'MCP streamable HTTP endpoint (JSON-RPC)' } },
    async (request, reply) => {
      const server = new McpServer({ name: 'agentic-mesh', version: '0.1.0' });
      // The gateway holds no key of its own: the caller's goes on to the orchestrator, so the tools
      // can do exactly what that key allows.
      registerTools(server, platform.as(request.headers.authorization));
      // Plain JSON answers: simple callers (a Gradient function, curl) need no SSE parsing.
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(request.raw, reply.raw, request.body);
    },
  );
  app.get('/mcp', async (_req, reply) => reply.status(405).send(notAllowed));
  app.delete('/mcp', async (_req, reply) => reply.status(405).send(notAllowed));
  return app;
}
