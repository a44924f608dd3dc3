/** The registry transport (distribution-spec): a source and a sink for copies, reference resolution, platforms. */
export { RegistrySource, openRegistrySource, type RegistrySourceOptions } from './source.js';
export { resolve, type Resolved } from './resolve.js';
export { parseCredsFlag, findCredentials, type Credentials } from './credentials.js';
export { endpointsFor, isLoopbackHost, type Endpoint } from './endpoints.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export { listRemotePlatforms, type RemotePlatform } from './platforms.js';
export { DEFAULT_TIMEOUT_SECONDS, DEFAULT_TIMEOUTS, timeoutsOf, type Timeouts } from './http.js';
export { RegistrySink, type RegistrySinkOptions, type PushCounters } from './sink.js';
export { DEFAULT_CHUNK_SIZE, MAX_UPLOAD_RESUMES } from './upload.js';
