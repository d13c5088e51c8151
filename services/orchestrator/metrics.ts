import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Usage } from '../protocol/usage.ts';

export interface EngineMetrics {
  workflowsTotal: Counter<'status'>;
  workflowDuration: Histogram<'status'>;
  agentCalls: Counter<'agent' | 'status'>;
  agentCallDuration: Histogram<'agent'>;
  progressEvents: Counter<'agent'>;
  /** Workflows waiting for a slot of their concurrency key, as of the last recovery pass. */
  workflowsQueued: Gauge<'concurrency_key'>;
  /** Agent calls waiting for a slot of their step's concurrency key (call-gate.ts). */
  callsQueued: Gauge<'concurrency_key'>;
  /** The ledger: tokens and USD of each stored attempt, counted once when its row is committed. */
  llmTokens: Counter<'model' | 'agent' | 'kind'>;
  llmCost: Counter<'model' | 'agent'>;
}

/** The ledger's counters for usage just stored: an attempt's (its agent) or a run's planning ("(planner)"). */
export function countStoredUsage(metrics: EngineMetrics, agent: string, usage: Usage): void {
  for (const u of usage) {
    metrics.llmTokens.inc({ model: u.model, agent, kind: 'prompt' }, u.prompt_tokens);
    metrics.llmTokens.inc({ model: u.model, agent, kind: 'completion' }, u.completion_tokens);
    if (typeof u.cost_usd === 'number') metrics.llmCost.inc({ model: u.model, agent }, u.cost_usd);
  }
}

export function createEngineMetrics(registry: Registry, activeWorkflows: () => number, awaitedAgents: () => string[]): EngineMetrics {
  new Gauge({
    name: 'workflows_active',
    help: 'Workflows this orchestrator is running now',
    registers: [registry],
    collect() {
      this.set(activeWorkflows());
    },
  });
  new Gauge({
    name: 'steps_waiting_for_agent',
    help: 'Steps waiting because no instance of their agent takes calls',
    labelNames: ['agent'],
    registers: [registry],
    collect() {
      this.reset();
      for (const agent of awaitedAgents()) this.inc({ agent });
    },
  });
  return {
    llmTokens: new Counter({
      name: 'llm_tokens_total',
      help: 'Model tokens of stored step attempts, by kind (prompt, completion): counted once per attempt',
      labelNames: ['model', 'agent', 'kind'],
      registers: [registry],
    }),
    llmCost: new Counter({
      name: 'llm_cost_usd_total',
      help: 'USD of stored step attempts, priced by PRICES_FILE or the provider (models without a price are not counted)',
      labelNames: ['model', 'agent'],
      registers: [registry],
    }),
    workflowsQueued: new Gauge({
      name: 'workflows_queued',
      help: 'Workflows waiting for a slot of their concurrency key (all replicas, as of the last recovery pass)',
      labelNames: ['concurrency_key'],
      registers: [registry],
    }),
    callsQueued: new Gauge({
      name: 'agent_calls_queued',
      help: "Agent calls waiting for a slot of their step's concurrency key (all replicas, as of the last recovery pass)",
      labelNames: ['concurrency_key'],
      registers: [registry],
    }),
    workflowsTotal: new Counter({
      name: 'workflows_total',
      help: 'Workflows that reached a final status',
      labelNames: ['status'],
      registers: [registry],
    }),
    workflowDuration: new Histogram({
      name: 'workflow_duration_seconds',
      help: 'Time from start to final status',
      labelNames: ['status'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: [registry],
    }),
    agentCalls: new Counter({
      name: 'agent_calls_total',
      help: 'Calls to agents by outcome',
      labelNames: ['agent', 'status'],
      registers: [registry],
    }),
    agentCallDuration: new Histogram({
      name: 'agent_call_duration_seconds',
      help: 'Time of a call to an agent, as the orchestrator sees it',
      labelNames: ['agent'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    progressEvents: new Counter({
      name: 'agent_progress_events_total',
      help: "Progress events agents sent while their steps ran, published to the tasks' event streams",
      labelNames: ['agent'],
      registers: [registry],
    }),
  };
}
