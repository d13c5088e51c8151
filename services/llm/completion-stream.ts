import { createParser } from 'eventsource-parser';

/** The parts of an OpenAI-compatible chat completions answer that are read. */
export interface CompletionAnswer {
  model?: unknown;
  choices?: Array<{ message?: { content?: unknown } }>;
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; cost?: unknown };
  error?: { message?: string };
}

/** One `chat.completion.chunk` event, as far as it is read. */
interface CompletionChunk {
  model?: unknown;
  choices?: Array<{ delta?: { content?: unknown } }>;
  usage?: CompletionAnswer['usage'] | null;
  error?: { message?: string };
}

/**
 * Reads a streamed chat completion (server-sent `chat.completion.chunk` events up to `data: [DONE]`)
 * into the answer the same call without `stream` would have had, passing each content delta to
 * `onDelta` as it comes. Usage comes from the chunk that carries it (stream_options.include_usage).
 * An error event, or a stream that ends before [DONE], comes back as the answer's `error`, with
 * `deltas` saying whether any text already went out.
 */
export async function readCompletionStream(
  body: AsyncIterable<Uint8Array | string>,
  onDelta: (text: string) => void,
): Promise<{ answer: CompletionAnswer; deltas: number }> {
  let content = '';
  let model: unknown;
  let usage: CompletionAnswer['usage'];
  let deltas = 0;
  let done = false;
  let error: string | undefined;
  const parser = createParser({
    onEvent(event) {
      if (done || error) return;
      if (event.data === '[DONE]') {
        done = true;
        return;
      }
      let chunk: CompletionChunk;
      try {
        chunk = JSON.parse(event.data) as CompletionChunk;
      } catch {
        error = `a stream event that is not JSON: ${event.data.slice(0, 200)}`;
        return;
      }
      if (chunk.error) {
        error = chunk.error.message ?? 'an error event with no message';
        return;
      }
      model ??= chunk.model;
      if (chunk.usage) usage = chunk.usage;
      const piece = chunk.choices?.[0]?.delta?.content;
      if (typeof piece === 'string' && piece.length > 0) {
        content += piece;
        deltas++;
        onDelta(piece);
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
  if (!done && !error) error = 'the stream ended before [DONE]';
  if (error) return { answer: { error: { message: error } }, deltas };
  return { answer: { model, choices: [{ message: { content } }], ...(usage ? { usage } : {}) }, deltas };
}
