import type { FastifyBaseLogger } from 'fastify';
import type { Registry } from 'prom-client';
import type { TSchema } from 'typebox';
import { AppError } from '../../services/errors/index.ts';
import type { LlmGateway } from '../../services/llm/index.ts';
import type { CheckVerdict, ProgressData, UpstreamStep } from '../../services/protocol/index.ts';

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

/** What a check knows: the plan around the step, nothing that has run. */
export interface CheckContext {
  /** The workflow's description, when it was planned from one. */
  description: string | undefined;
  /** The steps this one will depend on, with the output fields their agents declare. */
  upstream: UpstreamStep[];
  /** Whether this agent has a language model configured (ctx.llm.available at run time). */
  modelAvailable: boolean;
}

export type { CheckVerdict, UpstreamStep };

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
   * Output fields every successful answer carries ("files"), each with its kind when that matters
   * ("files:source" for code, "files:config"): a later step's check learns from them what this step
   * will hand on before anything runs.
   */
  outputs?: string[];
  /**
   * Whether a step could run on `input`, asked by the planner before it accepts a plan (POST /check).
   * Cheap and side-effect free: read the input, never do the work (loading a parser is fine). Say
   * `scaffold` when the step would run but only produce a stand-in, and `refused` with what to write
   * instead when execute would fail on this input. Inputs that fail `inputSchema` are refused before
   * it is called.
   */
  check?(input: I, ctx: CheckContext): CheckVerdict | Promise<CheckVerdict>;
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
