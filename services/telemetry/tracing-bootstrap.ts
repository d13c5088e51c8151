// Imported, and awaited, first by bin/agentic-mesh.ts: tracing must start before Fastify, pg and the rest load.
import { loadConfig } from '../config/index.ts';
import { startTracing } from './tracing.ts';

function serviceName(argv: string[]): string {
  const [command, name] = argv;
  if (command === 'agent' && name) return `agent-${name}`;
  if (command === 'start') return 'agentic-mesh';
  return command ?? 'agentic-mesh';
}

try {
  await startTracing(loadConfig(), serviceName(process.argv.slice(2)));
} catch {
  // A bad configuration is reported by the command itself, with the variable named.
}
