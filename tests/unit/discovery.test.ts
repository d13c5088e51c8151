import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../services/config/index.ts';
import { createDiscovery, createKubernetesDiscovery, createStaticDiscovery } from '../../services/discovery/index.ts';

describe('discovery from configuration', () => {
  const log = pino({ level: 'silent' });

  it('static by default: the design port table, moved and extended by AGENT_URLS', () => {
    const d = createDiscovery(loadConfig({ AGENT_URLS: 'cicd=http://ci.internal:9000,translator=http://127.0.0.1:9100' }), log);
    expect(d.kind).toBe('static');
    expect(d.pick('code-review')?.url).toBe('http://127.0.0.1:8003');
    expect(d.pick('cicd')?.url).toBe('http://ci.internal:9000');
    expect(d.pick('translator')?.url).toBe('http://127.0.0.1:9100');
    expect(d.pick('nobody')).toBeUndefined();
  });

  it('kubernetes: each agent is a Service in the namespace', () => {
    const d = createDiscovery(loadConfig({ DISCOVERY: 'kubernetes', K8S_NAMESPACE: 'mesh' }), log);
    expect(d.kind).toBe('kubernetes');
    expect(d.pick('documentation')?.url).toBe('http://documentation.mesh.svc.cluster.local:8080');
    expect(createKubernetesDiscovery({ namespace: 'a', port: 80, clusterDomain: 'c.local', agents: ['x'] }).pick('y')).toBeUndefined();
  });

  it('consul when CONSUL_HTTP_ADDR is set; DISCOVERY=consul without it is refused', () => {
    const d = createDiscovery(loadConfig({ CONSUL_HTTP_ADDR: '127.0.0.1:1' }), log);
    expect(d.kind).toBe('consul');
    d.close?.();
    expect(() => loadConfig({ DISCOVERY: 'consul' })).toThrow('DISCOVERY=consul needs CONSUL_HTTP_ADDR');
    expect(createStaticDiscovery(loadConfig({})).agents()).toHaveLength(5);
  });
});
