/**
 * The one error class of ocitool. Every failure carries a stable `code` that callers and tests
 * branch on, a message that names the object (digest, file, reference) and the cause, and the
 * underlying error as `cause`. Only src/cli turns these into exit codes and printed lines.
 */
export type ErrorCode =
  | 'USAGE'
  | 'DIGEST_INVALID'
  | 'DIGEST_UNSUPPORTED'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'DIFFID_MISMATCH'
  | 'JSON_INVALID'
  | 'JSON_TOO_LARGE'
  | 'MEDIA_TYPE'
  | 'LAYOUT_INVALID'
  | 'BLOB_MISSING'
  | 'PATH_UNSAFE'
  | 'TAR_INVALID'
  | 'PLATFORM'
  | 'REFERENCE_INVALID'
  | 'REF_CLASH'
  | 'NOT_FOUND'
  | 'STORE'
  | 'STORE_CORRUPT'
  | 'LOCKED'
  | 'REGISTRY'
  | 'AUTH'
  | 'NETWORK'
  | 'ARCHIVE_INVALID'
  | 'IO';

export class OcitoolError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for --json output and tests (digest, expected, actual, path, ...). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OcitoolError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Wraps any error with context naming the object being worked on, keeping the original code. */
export function withContext(context: string, err: unknown): OcitoolError {
  if (err instanceof OcitoolError) {
    return new OcitoolError(err.code, `${context}: ${err.message}`, { cause: err, details: err.details });
  }
  const message = err instanceof Error ? err.message : String(err);
  const sysCode = (err as NodeJS.ErrnoException | undefined)?.code;
  const code: ErrorCode = sysCode === 'ENOENT' ? 'NOT_FOUND' : 'IO';
  return new OcitoolError(code, `${context}: ${message}`, { cause: err });
}

/**
 * The first failure of an operation, with a later one (a clean-up, a helper thread) said in the
 * same line: the first is what the user must act on, the later one is never dropped.
 */
export function withLaterFailure(first: unknown, later: unknown, during: string): OcitoolError {
  const base =
    first instanceof OcitoolError
      ? first
      : new OcitoolError((first as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', first instanceof Error ? first.message : String(first), { cause: first });
  const message = later instanceof Error ? later.message : String(later);
  return new OcitoolError(base.code, `${base.message} (and ${during} failed: ${message})`, { cause: first, details: base.details });
}

/** Removes user:password@ from URLs and bearer/basic tokens from any text before it is shown. */
export function redact(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***');
}
