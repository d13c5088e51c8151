import type { TSchema, Static } from 'typebox';
import type { ModelUsage } from '../protocol/usage.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  signal?: AbortSignal;
  /**
   * Hears the answer as the model writes it: the call is made with `stream: true` and each content
   * delta is passed on as it arrives (an agent forwards them with ctx.progress({ text })). The result
   * is the same as without it. An endpoint that does not stream answers whole: the delta is then the
   * whole answer, once.
   */
  onDelta?: (text: string) => void;
}

export interface ChatResult {
  content: string;
  model: string;
  usage: { promptTokens: number; completionTokens: number };
}

export interface StructuredRequest<S extends TSchema> extends ChatRequest {
  /** Names the output for the model (a-z, 0-9, _ and -, at most 64). */
  name: string;
  schema: S;
}

/**
 * The one way agents and the planner reach a language model. `available` is false when no provider
 * is configured: callers then take their offline path and say so in their output.
 */
export interface LlmGateway {
  readonly available: boolean;
  /** The configured model, or undefined offline. */
  readonly model: string | undefined;
  chat(request: ChatRequest): Promise<ChatResult>;
  /** A chat whose answer must be JSON matching `schema`; the parsed value, checked. */
  structured<S extends TSchema>(request: StructuredRequest<S>): Promise<{ value: Static<S>; result: ChatResult }>;
  /**
   * The same gateway, telling `sink` the usage of every call the provider answered (each round of a
   * structured call, and an answer that is then refused as invalid: it was charged all the same).
   */
  metered(sink: (usage: ModelUsage) => void): LlmGateway;
}
