export { buildMcpGatewayApp, type McpGatewayOptions } from './app.ts';
