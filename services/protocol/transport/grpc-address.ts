import type { Config } from '../../config/index.ts';
import type { Discovery } from '../../discovery/index.ts';
import type { OutlierEjection } from '../../resilience/index.ts';

/** AGENT_GRPC_URLS when it names the agent; else the instance discovery picks, at its HTTP port plus GRPC_PORT_OFFSET. */
export function grpcAddress(config: Pick<Config, 'agentGrpcUrls' | 'grpcPortOffset'>, discovery: Discovery, agent: string, outliers?: OutlierEjection): string | undefined {
  const given = config.agentGrpcUrls[agent];
  if (given) return given;
  const instance = (outliers ? discovery.pick(agent, (url) => outliers.usable(url)) : undefined) ?? discovery.pick(agent);
  instance?.release();
  if (!instance) return undefined;
  const url = new URL(instance.url);
  return `${url.hostname}:${Number(url.port || 80) + config.grpcPortOffset}`;
}
