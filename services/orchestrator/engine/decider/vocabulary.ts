// The decider's vocabulary: the events a run meets (RunEvent), the commands the shell performs
// (Command) and what a commit carries. decide.ts turns one into the other.
import type { SerializedError } from '../../../errors/index.ts';
import type { Usage } from '../../../protocol/index.ts';
import type { Budget, store } from '../../../state/index.ts';
import type { RunState } from './state.ts';

/** What happened to a run. */
export type RunEvent =
  /** Begin driving it here (new, resumed, recovered): re-send what was in flight, start what is ready. */
  | { type: 'start' }
  | {
      type: 'succeeded';
      step: string;
      attempt: number;
      output: Record<string, unknown>;
      decision?: string | undefined;
      durationMs: number;
      replayed: boolean;
      startedAt: Date;
      /** What the attempt spent on models, priced by the shell. */
      usage?: Usage | undefined;
    }
  | { type: 'failed'; step: string; attempt: number; error: SerializedError; startedAt?: Date; usage?: Usage | undefined }
  | { type: 'timed_out'; step: string; attempt: number; timeoutMs: number; startedAt: Date }
  /** A person's answer to a waiting approval step. */
  | { type: 'answered'; step: string; decision: 'approved' | 'rejected'; comment?: string | undefined }
  /** A parked run was taken up again: approvals whose deadline passed expire; otherwise as start. */
  | { type: 'woke' }
  /** Someone changed the run's budget (POST /tasks/:id/budget): what it held back may go now. */
  | { type: 'budget_changed'; budget: Budget }
  | { type: 'cancelled'; reason: string };

/** A durable write of the run's progress (see store.commitProgress). */
export type Progress = Omit<store.Progress, 'workflowId' | 'lease'>;
export type FinalState = { status: 'succeeded' | 'failed'; error: SerializedError | null };

/**
 * What the shell must do, in order. A `dispatch` waits until every commit before it is durable (a
 * step goes out only once the results it depends on, and its own attempt row, are stored); `finish`
 * and `park` happen once the commit before them is durable.
 */
export type Command =
  /** `linger`: nothing waits on it but its own durability, and another step is running (see GroupCommitter.commit). */
  | { type: 'commit'; progress: Progress; linger?: boolean }
  | {
      type: 'dispatch';
      step: string;
      attempt: number;
      agent: string;
      key: string;
      input: Record<string, unknown>;
      dependencies: Record<string, unknown>;
      timeoutMs: number;
      delayMs: number;
    }
  | { type: 'finish'; final: FinalState }
  | { type: 'park'; wakeAt: Date | null }
  | { type: 'stop'; status: 'cancelled'; reason: string };

export interface DecideEnv {
  now: Date;
  /** A draw in [0, 1): the random part of a backoff. */
  jitter: number;
}

export interface Decision {
  state: RunState;
  commands: Command[];
}
