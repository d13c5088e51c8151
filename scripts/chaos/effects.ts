/** What the campaign's agent replicas really ran, counted from their effects file. */
export interface Duplicates {
  /** Executions (handlers that ran to the end). */
  executions: number;
  /**
   * Keys whose handler ran to the end more than once although the replica that finished it first
   * lived on: its answer was stored, so running it again is a platform bug. Must be 0.
   */
  sameAttempt: number;
  /**
   * Keys run again because the replica running them (or about to store the answer) was killed:
   * at-least-once delivery doing its job, the effect of a handler cut off mid-way.
   */
  afterReplicaDied: number;
}

/** Lines are "<key> <pid> start|done"; `killed` holds every pid the campaign SIGKILLed. */
export function countDuplicates(text: string, killed: ReadonlySet<number>): Duplicates {
  const byKey = new Map<string, Array<{ pid: number; phase: string }>>();
  for (const line of text.split('\n')) {
    const [key, pid, phase] = line.split(' ');
    if (!key || !pid || !phase) continue;
    byKey.set(key, [...(byKey.get(key) ?? []), { pid: Number(pid), phase }]);
  }
  let executions = 0;
  let sameAttempt = 0;
  let afterReplicaDied = 0;
  for (const runs of byKey.values()) {
    const done = runs.filter((r) => r.phase === 'done');
    executions += done.length;
    if (done.slice(0, -1).some((r) => !killed.has(r.pid))) sameAttempt++;
    else if (runs.filter((r) => r.phase === 'start').length > 1) afterReplicaDied++;
  }
  return { executions, sameAttempt, afterReplicaDied };
}
