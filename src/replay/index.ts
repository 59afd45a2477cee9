// Replay protection (browser-safe: no Node imports).
export { ReplayWindow, DEFAULT_WINDOW_SIZE, MIN_WINDOW_SIZE, MAX_WINDOW_SIZE } from './window.js';
export type { ReplayClass } from './window.js';
export { ReplayGuard, DEFAULT_MAX_AGE_MS, DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_STREAMS } from './guard.js';
export type { ReplayCode, ReplayVerdict, ReplayGuardOptions, ReplayStats, StreamKey } from './guard.js';
