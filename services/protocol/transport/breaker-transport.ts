import CircuitBreaker from 'opossum';
import { Gauge, type Registry } from 'prom-client';
import { AppError } from '../../errors/index.ts';
import type { BreakerSettings } from '../../resilience/index.ts';
import type { ExecuteRequest } from '../messages.ts';
import type { AgentReply, AgentTransport, OnProgress } from './types.ts';

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerTransport extends AgentTransport {
  state(
    agent: string,
  ): { state: BreakerState; settings: BreakerSettings; stats: { failures: number; successes: number; rejects: number } } | undefined;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * One opossum breaker per agent around another transport. Only failures that say trying again could
 * help (unreachable, 5xx, timeouts) count; an agent refusing a task is a healthy agent. While open,
 * calls fail at once with CIRCUIT_OPEN, which carries when to try again.
 */
export function withBreakers(
  inner: AgentTransport,
  options: {
    defaults: BreakerSettings;
    overrides: Record<string, Partial<BreakerSettings>>;
    registry: Registry;
    onChange?: (agent: string, state: BreakerState) => void;
  },
): BreakerTransport {
  const breakers = new Map<
    string,
    { breaker: CircuitBreaker<[ExecuteRequest, AbortSignal, OnProgress | undefined], AgentReply>; settings: BreakerSettings }
  >();
  const gauge = new Gauge({
    name: 'circuit_breaker_state',
    help: 'Per agent: 0 closed, 1 half-open, 2 open',
    labelNames: ['agent'],
    registers: [options.registry],
  });

  function stateOf(b: CircuitBreaker): BreakerState {
    return b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed';
  }

  function breakerFor(agent: string) {
    let entry = breakers.get(agent);
    if (entry) return entry;
    const settings = { ...options.defaults, ...options.overrides[agent] };
    const breaker = new CircuitBreaker(
      (req: ExecuteRequest, signal: AbortSignal, onProgress: OnProgress | undefined) => inner.call(agent, req, signal, onProgress),
      {
        timeout: false, // the engine's per-step timeout already bounds every call
        errorThresholdPercentage: settings.errorPercent,
        volumeThreshold: settings.volume,
        resetTimeout: settings.resetMs,
        rollingCountTimeout: settings.windowMs,
        errorFilter: (err: unknown) => !(err instanceof AppError && err.retryable),
      },
    );
    const changed = (state: BreakerState) => {
      gauge.set({ agent }, STATE_VALUE[state]);
      options.onChange?.(agent, state);
    };
    breaker.on('open', () => changed('open'));
    breaker.on('halfOpen', () => changed('half_open'));
    breaker.on('close', () => changed('closed'));
    gauge.set({ agent }, 0);
    entry = { breaker, settings };
    breakers.set(agent, entry);
    return entry;
  }

  return {
    name: `${inner.name}+breakers`,
    async call(agent, request, signal, onProgress) {
      const { breaker, settings } = breakerFor(agent);
      try {
        return await breaker.fire(request, signal, onProgress);
      } catch (err) {
        if ((err as { code?: string }).code === 'EOPENBREAKER') {
          throw new AppError(
            'CIRCUIT_OPEN',
            `circuit breaker for agent "${agent}" is open after repeated failures; next try in ${settings.resetMs} ms`,
            {
              details: { agent, retry_after_ms: settings.resetMs },
            },
          );
        }
        throw err;
      }
    },
    info: (agent, signal) => inner.info(agent, signal),
    // A dry run is not a call the breaker should count: the planner asks it of idle agents too.
    ...(inner.check ? { check: inner.check.bind(inner) } : {}),
    state(agent) {
      const entry = breakers.get(agent);
      if (!entry) return undefined;
      const s = entry.breaker.stats;
      return {
        state: stateOf(entry.breaker),
        settings: entry.settings,
        stats: { failures: s.failures, successes: s.successes, rejects: s.rejects },
      };
    },
    async close() {
      for (const { breaker } of breakers.values()) breaker.shutdown();
      await inner.close();
    },
  };
}
