import type { Discovery } from '../discovery/index.ts';
import type { AgentProfile } from './planner/index.ts';
import type { AgentTransport } from '../protocol/transport/index.ts';

export interface AgentEntry extends AgentProfile {
  url: string | undefined;
  status: 'up' | 'unreachable';
  version?: string;
  last_seen?: string;
  error?: string;
}

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((c): c is string => typeof c === 'string') : []);

/** Caches what each agent declares in GET /info (capabilities feed the planner). */
export class AgentRegistry {
  private readonly cache = new Map<string, { entry: AgentEntry; at: number }>();
  /** One GET /info per agent at a time: requests that need it meanwhile share its answer. */
  private readonly asking = new Map<string, Promise<AgentEntry>>();
  private readonly discovery: Discovery;
  private readonly transport: AgentTransport;
  private readonly ttlMs: number;

  constructor(discovery: Discovery, transport: AgentTransport, ttlMs = 30_000) {
    this.discovery = discovery;
    this.transport = transport;
    this.ttlMs = ttlMs;
  }

  get discoveryKind(): string {
    return this.discovery.kind;
  }

  names(): Set<string> {
    return new Set(this.discovery.agents());
  }

  /**
   * Every known agent, asking again those whose answer is older than the TTL or missing. Requests
   * that arrive together (fifty descriptions just after a start) share one question per agent:
   * asked fifty times at once, an agent on a busy machine could miss the timeout and its
   * capabilities drop out of the plan.
   */
  async list(force = false): Promise<AgentEntry[]> {
    const now = Date.now();
    return Promise.all(
      this.discovery.agents().map((name) => {
        const cached = this.cache.get(name);
        if (!force && cached && cached.entry.status === 'up' && now - cached.at < this.ttlMs) return Promise.resolve(cached.entry);
        return this.ask(name);
      }),
    );
  }

  private ask(name: string): Promise<AgentEntry> {
    let answer = this.asking.get(name);
    if (!answer) {
      answer = this.fetch(name).then((entry) => {
        this.cache.set(name, { entry, at: Date.now() });
        this.asking.delete(name);
        return entry;
      });
      this.asking.set(name, answer);
    }
    return answer;
  }

  /** Where `name` answers: each healthy instance when discovery knows them (Consul), else its one address. */
  instances(name: string): string[] {
    const known = this.discovery.instances?.(name);
    if (known) return known;
    const one = this.discovery.pick(name);
    one?.release();
    return one ? [one.url] : [];
  }

  async profiles(): Promise<AgentProfile[]> {
    return (await this.list()).filter((a) => a.status === 'up');
  }

  private async fetch(name: string): Promise<AgentEntry> {
    const instance = this.discovery.pick(name);
    instance?.release();
    const url = instance?.url;
    try {
      const info = await this.transport.info(name, AbortSignal.timeout(2_000));
      return {
        name,
        url,
        status: 'up',
        description: typeof info.description === 'string' ? info.description : '',
        capabilities: strings(info.capabilities),
        checks: info.checks === true,
        outputs: strings(info.outputs),
        ...(typeof info.version === 'string' ? { version: info.version } : {}),
        last_seen: new Date().toISOString(),
      };
    } catch (err) {
      const previous = this.cache.get(name)?.entry;
      return {
        name,
        url,
        status: 'unreachable',
        capabilities: previous?.capabilities ?? [],
        error: (err as Error).message,
        ...(previous?.last_seen ? { last_seen: previous.last_seen } : {}),
      };
    }
  }
}
