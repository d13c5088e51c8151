import { Counter, Histogram, type Registry } from 'prom-client';

export interface ScheduleMetrics {
  ticks: Counter<'schedule' | 'outcome'>;
  lag: Histogram;
}

export function createScheduleMetrics(registry: Registry): ScheduleMetrics {
  return {
    ticks: new Counter({
      name: 'schedule_ticks_total',
      help: 'Ticks of each schedule by outcome: started, skipped (a run was still going), missed (dropped by catch_up), failed, triggered (by hand)',
      labelNames: ['schedule', 'outcome'],
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'schedule_lag_seconds',
      help: "Time from a tick's planned time to the start of its workflow",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
  };
}
