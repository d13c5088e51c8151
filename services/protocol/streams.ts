/** Stream entry fields come as a flat [name, value, ...] list; this reads them as an object. */
export function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1]!;
  return out;
}

// Over Redis Streams a call is an entry on its agent's request stream with fields id, reply_to (the
// caller's result stream), body (the ExecuteRequest as JSON), authorization and the trace headers;
// its answer is an entry on reply_to with id, status, body and replayed ('1' or '0'). A call with
// field progress '1' also gets, before its answer, entries with id, type 'progress' and data (the
// ProgressData as JSON) on reply_to.
export const requestStream = (agent: string) => `agent.${agent}.requests`;
export const resultStream = (owner: string) => `orchestrator.${owner}.results`;
/** Where request entries go that were delivered too often (their handler kept killing its consumer). */
export const deadLetterStream = (agent: string) => `agent.${agent}.dead`;

export type StreamEntries = Array<[id: string, fields: string[]]>;
