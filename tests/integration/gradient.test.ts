import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { listenOnLoopback, startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

const require = createRequire(import.meta.url);
const fn = require('../../gradient/functions/packages/agentic-mesh/tool/index.js') as {
  main(args: Record<string, unknown>): Promise<{ statusCode: number; body: Record<string, any> }>;
};

interface Route {
  function_name: string;
  faas_name: string;
  input_schema: { parameters: Array<{ name: string; required: boolean; schema: { enum?: string[] } }> };
}

async function gateway() {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  const { app } = await startPlatform(db, testAgents().agents);
  const mcp = buildMcpGatewayApp({ orchestratorUrl: await listenOnLoopback(app), knowledgeUrl: undefined, logLevel: 'silent' });
  onTestFinished(() => mcp.close());
  return listenOnLoopback(mcp);
}

describe('Gradient integration', () => {
  it("has one function route per MCP tool, with the tool's parameters", async () => {
    const url = await gateway();
    const client = new Client({ name: 'routes-check', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    onTestFinished(() => client.close());
    const { tools } = await client.listTools();
    const { routes } = JSON.parse(await readFile(new URL('../../gradient/function_routes.json', import.meta.url), 'utf8')) as {
      routes: Route[];
    };
    expect(routes.map((r) => r.function_name).sort()).toEqual(tools.map((t) => t.name).sort());
    for (const tool of tools) {
      const route = routes.find((r) => r.function_name === tool.name)!;
      const [selector, ...params] = route.input_schema.parameters;
      expect(selector).toMatchObject({ name: 'tool', required: true, schema: { enum: [tool.name] } });
      expect(params.map((p) => p.name).sort(), tool.name).toEqual(Object.keys(tool.inputSchema.properties ?? {}).sort());
      expect(
        params
          .filter((p) => p.required)
          .map((p) => p.name)
          .sort(),
        tool.name,
      ).toEqual([...(tool.inputSchema.required ?? [])].sort());
    }
    const config = parse(await readFile(new URL('../../gradient/parent_agent_config.yaml', import.meta.url), 'utf8'));
    expect(config.agent.instruction).toContain('orchestrate');
    expect(config.function_routes.file).toBe('function_routes.json');
  });

  it('the function forwards a route call to the gateway and returns the tool result', async () => {
    const url = await gateway();
    const ran = await fn.main({
      MESH_MCP_URL: url,
      tool: 'orchestrate',
      plan: { steps: [{ id: 'a', agent: 'math', input: { values: [1, 2, 3] } }] },
      wait: true,
      __ow_headers: {},
    });
    expect(ran.statusCode).toBe(200);
    expect(ran.body.results[0].output.sum).toBe(6);
    const missing = await fn.main({ MESH_MCP_URL: url, tool: 'get_task', task_id: '5b0c8a53-55a4-4b0c-9d36-5a4f1a2b3c4d' });
    expect(missing).toMatchObject({ statusCode: 400, body: { error: expect.stringMatching(/^TASK_NOT_FOUND: /) } });
    expect((await fn.main({ MESH_MCP_URL: url })).statusCode).toBe(400);
  });
});
