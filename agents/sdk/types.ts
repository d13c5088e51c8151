import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { TSchema } from 'typebox';
import { AppError } from '../../services/errors/index.ts';
import type { LlmGateway } from '../../services/llm/index.ts';
import type { ProgressData } from '../../services/protocol/index.ts';

/** What an agent's handler knows about the call it serves. */
export interface AgentContext {
  taskId: string;
  stepId: string;
  attempt: number;
  idempotencyKey: string;
  /** The workflow's description, when it was planned from one. */
  description: string | undefined;
  /** Outputs of the steps this step depends on, by step id. */
  dependencies: Record<string, unknown>;
  /** Aborted when the call's deadline passes or shutdown runs out of grace. */
  signal: AbortSignal;
  log: FastifyBaseLogger;
  /** Ranked passages from the knowledge service; empty when none is configured (KNOWLEDGE_URL). */
  searchKnowledge(query: string, limit?: number): Promise<KnowledgeHit[]>;
  /**
   * The language model, when one is configured (LLM_BASE_URL). When `llm.available` is false the
   * agent takes its offline path and says so in its output.
   */
  llm: LlmGateway;
  /**
   * Reports progress while the handler works: `{message}` a status line, `{fraction}` 0..1, `{text}` a
   * piece of text to append (a model's tokens: pass `onDelta: (text) => ctx.progress({ text })` to
   * ctx.llm). Shown live on the task's event stream, never stored. Returns at once and never fails
   * the step: when the caller reads slowly, chunks are merged or dropped; long text goes in pieces of
   * at most 16 KiB. A shape other than these throws (a bug in the agent). A call answered from the
   * idempotency store reports nothing.
   */
  progress(data: ProgressData): void;
}

export interface KnowledgeHit {
  source: string;
  title: string | null;
  heading: string;
  passage: string;
  rank: number;
}

export type AgentOutput = Record<string, unknown>;

export interface AgentDefinition<I = Record<string, unknown>> {
  name: string;
  description: string;
  version?: string;
  /**
   * Phrases naming what the agent does ("review code", "write api docs"). The planner matches
   * subtasks against them, so an agent is chosen by what it declares, not by a list in the planner.
   */
  capabilities: string[];
  /** JSON schema of `input`; calls that do not match get 400 AGENT_INPUT_INVALID before the handler runs. */
  inputSchema?: TSchema;
  /**
   * Does the work. Return the output; an `decision: 'approved' | 'rejected'` field in it is surfaced
   * to the orchestrator for branching. Throw TaskFailedError when the input cannot be worked on.
   */
  execute(input: I, ctx: AgentContext): Promise<AgentOutput>;
  /**
   * The agent's own metrics: called once with the service's registry; the returned function sees
   * every output the handler produces (e.g. counting findings by severity).
   */
  metrics?(registry: Registry): (output: AgentOutput) => void;
}

export function defineAgent<I = Record<string, unknown>>(definition: AgentDefinition<I>): AgentDefinition<I> {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(definition.name)) {
    throw new Error(`agent name ${JSON.stringify(definition.name)} must be lowercase letters, digits and dashes`);
  }
  if (definition.capabilities.length === 0) throw new Error(`agent ${definition.name} declares no capabilities`);
  return Object.freeze({ ...definition });
}

/** The input cannot be worked on: retrying the same input will not help. */
export class TaskFailedError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('AGENT_TASK_FAILED', message, details ? { details } : {});
    this.name = 'TaskFailedError';
  }
}
