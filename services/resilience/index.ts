export { parseBreakerOverrides, type BreakerSettings } from './breaker-settings.ts';
export { withBreakers, type BreakerState, type BreakerTransport } from './breaker-transport.ts';
export { OutlierEjection, type OutlierOptions } from './outlier-ejection.ts';
