// A DigitalOcean Function that a Gradient agent's function route calls. It forwards the route's
// arguments to one tool of the Agentic Mesh MCP gateway (JSON-RPC tools/call over streamable HTTP)
// and returns the tool's result. Every route calls this one function and names its tool in `tool`.
'use strict';

async function main(args) {
  const gateway = (process.env.MESH_MCP_URL || args.MESH_MCP_URL || '').replace(/\/+$/, '');
  const tool = args.tool;
  if (!gateway) return { statusCode: 500, body: { error: 'MESH_MCP_URL is not set' } };
  if (typeof tool !== 'string' || tool === '') return { statusCode: 400, body: { error: 'the route must pass "tool"' } };
  const toolArgs = {};
  for (const [k, v] of Object.entries(args)) {
    // OpenWhisk adds __ow_* fields; the settings above are not tool arguments either.
    if (!k.startsWith('__ow_') && k !== 'MESH_MCP_URL' && k !== 'tool') toolArgs[k] = v;
  }
  const res = await fetch(`${gateway}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(process.env.MESH_API_KEY ? { authorization: `Bearer ${process.env.MESH_API_KEY}` } : {}),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: toolArgs } }),
  });
  const reply = await res.json();
  if (reply.error) return { statusCode: 502, body: { error: reply.error.message } };
  const result = reply.result;
  if (result.isError) return { statusCode: 400, body: { error: result.content.map((c) => c.text).join('\n') } };
  return { statusCode: 200, body: result.structuredContent ?? { text: result.content.map((c) => c.text).join('\n') } };
}

exports.main = main;
