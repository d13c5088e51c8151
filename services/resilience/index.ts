export { parseBreakerOverrides, type BreakerSettings } from './breaker-settings.ts';
export { OutlierEjection, type OutlierOptions } from './outlier-ejection.ts';
