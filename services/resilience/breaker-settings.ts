import { ConfigError } from '../errors/index.ts';

/** A breaker's knobs: it opens when `errorPercent` of the calls in `windowMs` failed, once `volume` calls were made. */
export interface BreakerSettings {
  errorPercent: number;
  volume: number;
  resetMs: number;
  windowMs: number;
}

const KEYS: Record<string, keyof BreakerSettings> = {
  error_percent: 'errorPercent',
  volume: 'volume',
  reset_ms: 'resetMs',
  window_ms: 'windowMs',
};

/** "code-review:volume=3,reset_ms=5000;cicd:error_percent=80" → per-agent overrides of the defaults. */
export function parseBreakerOverrides(text: string): Record<string, Partial<BreakerSettings>> {
  const out: Record<string, Partial<BreakerSettings>> = {};
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    const agent = part.slice(0, colon).trim();
    if (colon <= 0 || !/^[a-z][a-z0-9-]*$/.test(agent))
      throw new ConfigError(`invalid configuration: AGENT_BREAKERS entry ${JSON.stringify(part)} is not agent:key=value,...`);
    const settings: Partial<BreakerSettings> = {};
    for (const kv of part
      .slice(colon + 1)
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const [k, v] = kv.split('=').map((x) => x.trim());
      const key = KEYS[k ?? ''];
      const n = Number(v);
      if (!key || !Number.isInteger(n) || n < 0) {
        throw new ConfigError(
          `invalid configuration: AGENT_BREAKERS ${agent}: ${JSON.stringify(kv)}; use ${Object.keys(KEYS).join(', ')} with whole numbers`,
        );
      }
      settings[key] = n;
    }
    out[agent] = settings;
  }
  return out;
}
