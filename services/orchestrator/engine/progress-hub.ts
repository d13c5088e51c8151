import { EventEmitter } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from '../../state/redis-client.ts';
import { progressFrom, type ProgressData } from '../../protocol/index.ts';

/** A step_progress event as the task's event stream sends it (without an id: it is not in the log). */
export interface StepProgress {
  task_id: string;
  type: 'step_progress';
  step_id: string;
  attempt: number;
  data: ProgressData;
  created_at: string;
}

export interface ProgressHub {
  /** Best-effort: a progress event nobody listens to, or that Redis cannot carry, is gone. */
  publish(event: StepProgress): void;
  /** `ready` settles once events published from now on will reach the listener (with Redis, once subscribed). */
  subscribe(taskId: string, listener: (event: StepProgress) => void): { ready: Promise<void>; close(): void };
  close(): Promise<void>;
}

const channelOf = (taskId: string) => `progress.${taskId}`;

/**
 * Progress of running steps, per task, for the open event streams. Never written to Postgres: the
 * step's result is the durable record. In one process it is an in-memory emitter. With Redis
 * (REDIS_URL) every event goes through Redis pub/sub on `progress.<task id>`, and each replica
 * subscribes to the channels of the tasks its clients watch, so a stream opened on any replica sees
 * the progress of a step another replica runs. Pub/sub delivers to those listening at the time:
 * progress sent while nobody watches is not kept, which is what progress is for.
 */
export function createProgressHub(options: { redisUrl?: string | undefined; log: FastifyBaseLogger }): ProgressHub {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const deliver = (event: StepProgress) => local.emit(event.task_id, event);
  if (!options.redisUrl) {
    return {
      publish: deliver,
      subscribe(taskId, listener) {
        local.on(taskId, listener);
        return { ready: Promise.resolve(), close: () => local.off(taskId, listener) };
      },
      async close() {
        local.removeAllListeners();
      },
    };
  }

  const redisUrl = options.redisUrl;
  // One connection publishes (connected at once: a lazy connection sent its first command after
  // the second, and progress text must keep its order); a second, made when the first stream opens,
  // is in subscriber mode.
  const publisher = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let subscriber: Redis | undefined;
  // The SUBSCRIBE of each channel this replica listens on, so later streams of the task wait for the same one.
  const subscriptions = new Map<string, Promise<void>>();
  const subscriberConnection = (): Redis => {
    if (subscriber) return subscriber;
    subscriber = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    subscriber.on('message', (channel: string, text: string) => {
      const event = parseEvent(channel, text);
      if (event) deliver(event);
    });
    subscriber.on('error', (err: Error) => options.log.debug({ err: err.message }, 'progress subscriber: Redis error'));
    return subscriber;
  };
  publisher.on('error', (err: Error) => options.log.debug({ err: err.message }, 'progress publisher: Redis error'));

  return {
    publish(event) {
      // Redis down: this replica's own streams still hear it; other replicas' do not.
      publisher.publish(channelOf(event.task_id), JSON.stringify(event)).catch(() => deliver(event));
    },
    subscribe(taskId, listener) {
      let ready = subscriptions.get(taskId);
      if (!ready) {
        ready = subscriberConnection()
          .subscribe(channelOf(taskId))
          .then(
            () => {},
            (err: unknown) => options.log.warn({ err: (err as Error).message, taskId }, 'could not subscribe to task progress'),
          );
        subscriptions.set(taskId, ready);
      }
      local.on(taskId, listener);
      return {
        ready,
        close() {
          local.off(taskId, listener);
          if (local.listenerCount(taskId) > 0) return;
          subscriptions.delete(taskId);
          subscriber?.unsubscribe(channelOf(taskId)).catch(() => {});
        },
      };
    },
    async close() {
      local.removeAllListeners();
      publisher.disconnect();
      subscriber?.disconnect();
    },
  };
}

/** An event off a channel, checked: whatever else is published there is left out. */
function parseEvent(channel: string, text: string): StepProgress | undefined {
  try {
    const e = JSON.parse(text) as StepProgress;
    const data = progressFrom(e.data);
    if (!data || channelOf(e.task_id) !== channel || typeof e.step_id !== 'string' || typeof e.attempt !== 'number') return undefined;
    return { task_id: e.task_id, type: 'step_progress', step_id: e.step_id, attempt: e.attempt, data, created_at: String(e.created_at) };
  } catch {
    return undefined;
  }
}
