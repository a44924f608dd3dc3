/**
 * A distribution-spec client for one repository at one endpoint: the `GET /v2/` probe, auth
 * (anonymous or credentialed bearer tokens, basic), retries with backoff, and registry errors
 * turned into OcitoolErrors naming the registry, repository and object. Never puts a credential
 * or token into a message.
 */
import { OcitoolError, redact, type ErrorCode } from '../errors.js';
import { parseChallenges, type Challenge } from './challenge.js';
import { findCredentials, type Credentials } from './credentials.js';
import type { Endpoint } from './endpoints.js';
import { DEFAULT_TIMEOUTS, discard, readSmall, sendRequest, type HttpMethod, type HttpResult, type Timeouts } from './http.js';
import { DEFAULT_RETRY_POLICY, parseRetryAfter, RETRY_STATUSES, retryDelayMs, sleep, type RetryPolicy } from './retry.js';
import { credentialRefusal, forgetToken, obtainToken, realmUrl, type TokenContext } from './token.js';

/** Registry error bodies are short JSON; read at most this much of one for the message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export interface ClientOptions {
  /** --creds; when absent, auth files and helpers are consulted (never for mirrors). */
  credentials?: Credentials;
  retry?: RetryPolicy;
  env?: NodeJS.ProcessEnv;
  /** Connect, headers and idle-body limits (--timeout); DEFAULT_TIMEOUTS when absent. */
  timeouts?: Timeouts;
  /** --plain-http: credentials may go to a plain-http token realm on the registry's host. */
  plainHttp?: boolean;
  /** Ask tokens for push as well as pull on the repository (a push or copy destination). */
  push?: boolean;
  /** Other repositories of the same registry to ask `pull` on (cross-repository mount sources). */
  pullFrom?: string[];
}

export interface RequestOptions {
  method?: HttpMethod;
  headers?: Record<string, string>;
  /** Names the object for errors: "manifest sha256:…", "blob sha256:…". */
  what: string;
  /**
   * An upload body. A Buffer is sent again on a retry or a renewed token; a stream is sent once
   * (no retry: the caller resumes the upload from what the registry reports it has).
   */
  body?: Buffer | NodeJS.ReadableStream;
  /** 'to' for uploads: errors read "blob … to registry …". */
  direction?: 'from' | 'to';
}

type AuthState = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; challenge: Challenge };

export class RegistryClient {
  readonly endpoint: Endpoint;
  readonly repository: string;
  /** "registry localhost:5000 (repository x/y)": credential-free, for messages. */
  readonly description: string;
  private readonly options: ClientOptions;
  private auth: AuthState = { kind: 'none' };
  private probed: Promise<void> | undefined;
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(endpoint: Endpoint, repository: string, options: ClientOptions = {}) {
    this.endpoint = endpoint;
    this.repository = repository;
    this.options = options;
    const host = new URL(endpoint.baseUrl).host;
    this.description = `${endpoint.mirror ? 'mirror' : 'registry'} ${host} (repository ${repository})`;
  }

  /**
   * Sends a request to /v2/<repository>/<path>, or to `url` (an upload's Location), authenticating
   * and retrying; returns any final response. Authorization goes only to the registry's origin.
   */
  async request(path: string | URL, options: RequestOptions): Promise<HttpResult> {
    await (this.probed ??= this.probe());
    const url = typeof path === 'string' ? new URL(`${this.endpoint.baseUrl}/v2/${this.repository}/${path}`) : path;
    const ours = url.origin === this.origin;
    const replayable = options.body === undefined || Buffer.isBuffer(options.body);
    for (let authRetried = !replayable; ; ) {
      let result: HttpResult;
      try {
        result = await this.withRetries(url, options, async () => ({ ...options.headers, ...(ours ? await this.authHeaders() : {}) }));
      } catch (err) {
        throw this.wrap(err, options.what, options.direction);
      }
      if (result.response.status === 401 && result.url.origin !== this.origin) {
        // A redirect target (CDN, object store) with its own realm: answering it would hand the
        // user's credentials to a host they were never meant for.
        discard(result.response);
        throw new OcitoolError('AUTH', redact(`${options.what} from ${this.description}: HTTP 401 from ${result.url.host}, which the registry redirected to; its challenge is not answered with the registry's credentials`), {
          details: { status: 401, registry: this.endpoint.registry, repository: this.repository },
        });
      }
      if (result.response.status === 401 && !authRetried) {
        authRetried = true;
        discard(result.response);
        await this.answerChallenge(result.response.headers.get('www-authenticate'), true);
        continue;
      }
      return result;
    }
  }

  /**
   * Turns a non-success response into an error naming the object and what the registry said;
   * `direction` 'to' for uploads ("manifest … to registry …").
   */
  async failure(result: HttpResult, what: string, direction: 'from' | 'to' = 'from'): Promise<OcitoolError> {
    const { response } = result;
    let detail = '';
    try {
      const raw = await readSmall(response, MAX_ERROR_BODY_BYTES, this.timeouts.idleMs);
      const parsed = JSON.parse(raw.toString('utf8')) as { errors?: { code?: string; message?: string }[] };
      detail = (parsed.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      // Not JSON or unreadable: the status alone has to do.
    }
    const status = response.status;
    const code: ErrorCode = status === 401 || status === 403 ? 'AUTH' : status === 404 ? 'NOT_FOUND' : 'REGISTRY';
    const hint = status === 401 || status === 403 ? await this.authHint(status) : '';
    return new OcitoolError(code, redact(`${what} ${direction} ${this.description}: HTTP ${status}${hint}${detail ? ` ${detail}` : ''}`), {
      details: { status, registry: this.endpoint.registry, repository: this.repository },
    });
  }

  /** What auth was tried, for a 401 or 403: names the token realm's host and withheld credentials. */
  private async authHint(status: number): Promise<string> {
    if (this.auth.kind === 'bearer') {
      const credentials = await this.findCredentials();
      let realm: URL;
      try {
        realm = realmUrl(this.auth.challenge);
      } catch (err) {
        return ` (${(err as Error).message})`;
      }
      const refusal = credentials ? credentialRefusal(realm, this.tokenContext()) : undefined;
      const who = refusal ? `anonymous token, credentials not sent: ${refusal}` : credentials ? 'token for your credentials' : 'anonymous token';
      return ` (${who}, from token realm ${realm.host})`;
    }
    if (status !== 401) return '';
    return this.auth.kind === 'none' ? ' (no credentials)' : ' (credentials rejected)';
  }

  /** The limits every request of this client runs under. */
  get timeouts(): Timeouts {
    return this.options.timeouts ?? DEFAULT_TIMEOUTS;
  }

  private get origin(): string {
    return new URL(this.endpoint.baseUrl).origin;
  }

  private tokenContext(): TokenContext {
    return { registryUrl: new URL(this.endpoint.baseUrl), plainHttp: Boolean(this.options.plainHttp), timeouts: this.timeouts };
  }

  private async probe(): Promise<void> {
    const url = new URL(`${this.endpoint.baseUrl}/v2/`);
    let result: HttpResult;
    try {
      result = await this.withRetries(url, { what: 'API probe' }, async () => ({}));
    } catch (err) {
      throw this.wrap(err, 'API probe');
    }
    discard(result.response);
    if (result.response.status === 401 && result.url.origin !== this.origin) {
      throw new OcitoolError('AUTH', `${this.description}: API probe answered HTTP 401 by ${result.url.host}, which the registry redirected to; its challenge is not answered with the registry's credentials`);
    }
    if (result.response.status === 401) await this.answerChallenge(result.response.headers.get('www-authenticate'), false);
    else if (result.response.status === 404) throw new OcitoolError('REGISTRY', `${this.description}: /v2/ not found: not a distribution-spec registry`);
  }

  private async answerChallenge(header: string | null, refused: boolean): Promise<void> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (refused && this.auth.kind === 'bearer') forgetToken(this.auth.challenge, this.scope(), await this.findCredentials(), this.tokenContext());
    if (bearer) this.auth = { kind: 'bearer', challenge: bearer };
    else if (basic) {
      if (!(await this.findCredentials())) {
        throw new OcitoolError('AUTH', `${this.description}: authentication required and no credentials found (use --creds or docker login)`);
      }
      this.auth = { kind: 'basic' };
    } else {
      throw new OcitoolError('AUTH', `${this.description}: HTTP 401 with no supported WWW-Authenticate challenge`);
    }
  }

  private scope(): string {
    const own = `repository:${this.repository}:${this.options.push ? 'pull,push' : 'pull'}`;
    return [own, ...(this.options.pullFrom ?? []).filter((r) => r !== this.repository).map((r) => `repository:${r}:pull`)].join(' ');
  }

  private findCredentials(): Promise<Credentials | undefined> {
    if (this.endpoint.mirror) return Promise.resolve(undefined);
    return (this.credentials ??= this.options.credentials ? Promise.resolve(this.options.credentials) : findCredentials(this.endpoint.registry, this.options.env));
  }

  private async authHeaders(): Promise<Record<string, string>> {
    if (this.auth.kind === 'none') return {};
    const credentials = await this.findCredentials();
    if (this.auth.kind === 'basic') {
      return credentials ? { Authorization: `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` } : {};
    }
    const token = await obtainToken(this.auth.challenge, this.scope(), credentials, this.tokenContext());
    return { Authorization: `Bearer ${token}` };
  }

  /** Sends with retries on connection errors and retryable statuses, within the policy's bounds. */
  private async withRetries(url: URL, options: Pick<RequestOptions, 'method' | 'what' | 'body'>, headers: () => Promise<Record<string, string>>): Promise<HttpResult> {
    const base = this.options.retry ?? DEFAULT_RETRY_POLICY;
    // A streamed body is gone once sent: one attempt, and the upload resumes from the registry's offset.
    const policy = options.body === undefined || Buffer.isBuffer(options.body) ? base : { ...base, maxAttempts: 1 };
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      let result: HttpResult | undefined;
      let failure: unknown;
      try {
        result = await sendRequest(url, { method: options.method, headers: await headers(), timeouts: this.timeouts, ...(options.body !== undefined ? { body: options.body } : {}) });
      } catch (err) {
        if (!(err instanceof OcitoolError) || err.code !== 'NETWORK') throw err;
        failure = err;
      }
      if (result && !RETRY_STATUSES.has(result.response.status)) return result;
      const delay = retryDelayMs(attempt, policy, result ? parseRetryAfter(result.response.headers.get('retry-after')) : undefined);
      if (attempt >= policy.maxAttempts || waited + delay > policy.maxTotalWaitMs) {
        if (result) return result;
        throw failure;
      }
      if (result) discard(result.response);
      waited += delay;
      await sleep(delay);
    }
  }

  private wrap(err: unknown, what: string, direction: 'from' | 'to' = 'from'): OcitoolError {
    if (err instanceof OcitoolError) return new OcitoolError(err.code, redact(`${what} ${direction} ${this.description}: ${err.message}`), { cause: err, details: err.details });
    return new OcitoolError('NETWORK', redact(`${what} ${direction} ${this.description}: ${(err as Error).message}`), { cause: err });
  }
}
