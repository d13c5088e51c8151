import type { Config } from '../config/index.ts';
import type { LlmGateway } from '../llm/index.ts';
import type { BreakerTransport } from '../protocol/transport/index.ts';
import type { OutlierEjection } from '../resilience/index.ts';
import type { Db } from '../state/index.ts';
import type { AgentRegistry } from './agent-registry.ts';
import type { Ownership } from './auth/ownership.ts';
import type { CallsInFlight } from './calls-in-flight.ts';
import type { Engine, ProgressHub, WorkflowNotifier } from './engine/index.ts';
import type { NamedWorkflow } from './workflow-library.ts';

/** What the routes work with; built once in app.ts. */
export interface OrchestratorContext {
  config: Config;
  db: Db;
  engine: Engine;
  /** The agents discovery knows, with their /info. */
  agents: AgentRegistry;
  notifier: WorkflowNotifier;
  /** Agents' progress on running steps, per task: ephemeral, for the event streams. */
  progress: ProgressHub;
  llm: LlmGateway;
  workflows: ReadonlyMap<string, NamedWorkflow>;
  /** How calls reach agents: the transports, each agent behind its circuit breaker. */
  transport: BreakerTransport;
  /** Agent instances this orchestrator saw fail and leaves out for a while. */
  outliers: OutlierEjection;
  /** Which tasks a request may see and act on (API_KEY_OWNERSHIP). */
  ownership: Ownership;
  /** Calls out with each agent now. */
  callsInFlight: CallsInFlight;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids that cannot exist are simply not found, never a database error. */
export function isTaskId(id: string): boolean {
  return UUID.test(id);
}
