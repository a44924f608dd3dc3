/**
 * Retry policy for flaky networks and rate limits: which failures are retried, exponential
 * backoff with full jitter, `Retry-After` honoured, and a bound on attempts and total waiting.
 */

/** Statuses worth retrying: timeouts, rate limits and transient server or gateway errors. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  maxAttempts: number;
  /** First backoff; doubles each attempt. */
  baseDelayMs: number;
  /** Cap on one wait. */
  maxDelayMs: number;
  /** Cap on all waiting for one request: a `Retry-After` beyond it fails at once instead of hanging. */
  maxTotalWaitMs: number;
}

/** Six attempts over at most a minute: rides out a registry restart without hanging CI for long. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 250, maxDelayMs: 10_000, maxTotalWaitMs: 60_000 };

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or undefined. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const when = Date.parse(trimmed);
  return Number.isNaN(when) ? undefined : Math.max(0, when - now);
}

/** The wait before attempt `attempt + 1` (attempt counts from 1): Retry-After if given, else jittered backoff. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  // Full jitter (AWS architecture blog): spreads parallel layer downloads apart after a shared failure.
  return Math.floor(ceiling / 2 + Math.random() * (ceiling / 2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
