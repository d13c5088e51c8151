import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { onTestFinished } from 'vitest';
import { buildMcpGatewayApp } from '../../services/mcp-gateway/index.ts';
import { listenOnLoopback } from './platform.ts';

export interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, any>;
  content: Array<{ text: string }>;
}

/** An MCP gateway in front of the orchestrator at `orchestratorUrl`, and a client's tool call through it; closed after the test. */
export async function mcpTools(orchestratorUrl: string): Promise<(name: string, args?: Record<string, unknown>) => Promise<ToolResult>> {
  const mcp = buildMcpGatewayApp({ orchestratorUrl, knowledgeUrl: undefined, logLevel: 'silent' });
  onTestFinished(() => mcp.close());
  const client = new Client({ name: 'tools-check', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${await listenOnLoopback(mcp)}/mcp`)));
  onTestFinished(() => client.close());
  return async (name, args = {}) => (await client.callTool({ name, arguments: args })) as ToolResult;
}
