import { PROGRESS_TEXT_MAX, progressProblems, type ProgressData } from '../../services/protocol/index.ts';

/** Sends one chunk on the call's carrier; a promise means the carrier is busy until it settles. */
export type ProgressSend = (data: ProgressData) => void | Promise<unknown>;

/** Chunks held while the carrier is busy; past this, progress is dropped (the result carries the work). */
const MAX_HELD = 4;

/**
 * What an agent passed to ctx.progress as the chunks that go on the wire: text longer than one chunk
 * carries is cut into several. Throws, naming the problem, when it is not progress at all (a bug in
 * the agent, not something to carry on with).
 */
export function progressChunks(data: unknown): ProgressData[] {
  const text = (data as { text?: unknown } | null)?.text;
  const pieces = typeof text === 'string' && text.length > PROGRESS_TEXT_MAX ? cut(text) : undefined;
  const first: unknown = pieces ? { ...(data as ProgressData), text: pieces[0] } : data;
  const problems = progressProblems(first);
  if (problems.length > 0)
    throw new TypeError(
      `ctx.progress takes {message?: string (at most 1000 characters), fraction?: number from 0 to 1, text?: string} ` +
        `with at least one of them and nothing else: ${problems.join('; ')}`,
    );
  return [first as ProgressData, ...(pieces ?? []).slice(1).map((t) => ({ text: t }))];
}

function cut(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += PROGRESS_TEXT_MAX) out.push(text.slice(i, i + PROGRESS_TEXT_MAX));
  return out;
}

function merge(into: ProgressData, next: ProgressData): boolean {
  const text = (into.text ?? '') + (next.text ?? '');
  if (text.length > PROGRESS_TEXT_MAX) return false;
  if (text) into.text = text;
  if (next.message !== undefined) into.message = next.message;
  if (next.fraction !== undefined) into.fraction = next.fraction;
  return true;
}

/**
 * One call's progress on its way to the caller, never holding up the handler: push() returns at
 * once. At most one send is in flight; what is reported meanwhile is coalesced (texts appended, the
 * latest message and fraction kept) into a few held chunks that go out when the carrier is free,
 * and beyond those it is dropped. After end() nothing more goes out: held progress is dropped
 * too, since the result, which follows at once, supersedes it. A failed send is dropped as well.
 * Ending lets go of the carrier, which closes over the call's request and reply: a finished call's
 * channel can live on until a full collection, and would keep them alive with it.
 */
export function progressChannel(send: ProgressSend): { push(data: ProgressData): void; end(): void; readonly dropped: number } {
  let carrier: ProgressSend | undefined = send;
  const held: ProgressData[] = [];
  let busy = false;
  let ended = false;
  let dropped = 0;

  const pump = (): void => {
    while (!busy && carrier && held.length > 0) {
      const next = held.shift()!;
      let pending: void | Promise<unknown>;
      try {
        pending = carrier(next);
      } catch {
        dropped++;
        continue;
      }
      if (pending) {
        busy = true;
        pending.then(
          () => {
            busy = false;
            pump();
          },
          () => {
            busy = false;
            pump();
          },
        );
      }
    }
  };

  return {
    push(data) {
      if (ended) return;
      const last = held.at(-1);
      if (!last || !merge(last, data)) {
        if (held.length >= MAX_HELD) {
          dropped++;
          return;
        }
        held.push({ ...data });
      }
      pump();
    },
    end() {
      ended = true;
      carrier = undefined;
      dropped += held.length;
      held.length = 0;
    },
    get dropped() {
      return dropped;
    },
  };
}
