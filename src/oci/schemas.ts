/**
 * zod schemas for every JSON document that crosses a boundary: descriptors, manifests, indexes,
 * image configs, `oci-layout`, Docker's archive `manifest.json`. Documents are parsed from their
 * raw bytes, which travel with the parsed value so that digests always cover what was received.
 */
import { z } from 'zod';
import { OcitoolError } from '../errors.js';
import { parseDigest, type Digest } from './digest.js';
import { isIndexType, isManifestType, MediaType } from './media-types.js';

/** Manifests, indexes and configs are read whole; cap them so a hostile peer cannot exhaust memory (the distribution-spec suggests 4 MiB for manifests). */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

const digestSchema = z.string().transform((text, ctx): Digest => {
  try {
    return parseDigest(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

export const PlatformSchema = z.object({
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof PlatformSchema>;

const annotations = z.record(z.string(), z.string());

export const DescriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  platform: PlatformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type Index = z.infer<typeof IndexSchema>;

/** The parts of an image config ocitool reads; everything else is kept in the raw bytes. */
export const ImageConfigSchema = z.looseObject({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestSchema) }),
});
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const OciLayoutSchema = z.object({ imageLayoutVersion: z.string() });

/** One entry of a `docker save` archive's manifest.json. */
export const DockerArchiveEntrySchema = z.looseObject({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullable().optional(),
  Layers: z.array(z.string()),
  LayerSources: z.record(z.string(), DescriptorSchema).optional(),
});
export const DockerArchiveManifestSchema = z.array(DockerArchiveEntrySchema);
export type DockerArchiveEntry = z.infer<typeof DockerArchiveEntrySchema>;

/** Parses raw JSON bytes through a schema; `what` names the document in every error. */
export function parseJson<T extends z.ZodType>(raw: Uint8Array, schema: T, what: string): z.infer<T> {
  return validateJson(parseJsonValue(raw, what), schema, what);
}

/**
 * Raw JSON bytes to a value, under MAX_JSON_BYTES, refusing duplicate keys (see
 * `findDuplicateKey`): the one place documents are turned from bytes into values.
 */
export function parseJsonValue(raw: Uint8Array, what: string): unknown {
  if (raw.byteLength > MAX_JSON_BYTES) {
    throw new OcitoolError('JSON_TOO_LARGE', `${what}: ${raw.byteLength} bytes is over the ${MAX_JSON_BYTES}-byte limit for JSON documents`);
  }
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new OcitoolError('JSON_INVALID', `${what}: invalid JSON (${(err as Error).message})`, { cause: err });
  }
  const duplicate = findDuplicateKey(text);
  if (duplicate) {
    const where = duplicate.path ? `in ${duplicate.path}` : 'at the top level';
    const detail = duplicate.key === duplicate.first ? `key "${duplicate.key}" appears twice` : `key "${duplicate.key}" and key "${duplicate.first}" differ only in case`;
    throw new OcitoolError('JSON_INVALID', `${what}: ${detail} ${where} (other tools would read a different document)`);
  }
  return value;
}

/** Checks a parsed value against a schema; `what` names the document in every error. */
export function validateJson<T extends z.ZodType>(value: unknown, schema: T, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    // Collect every problem, not just the first, so one run shows the user all that is wrong.
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    const code = result.error.issues.some((i) => /digest algorithm/.test(i.message)) ? 'DIGEST_UNSUPPORTED' : 'JSON_INVALID';
    throw new OcitoolError(code, `${what}: ${problems}`);
  }
  return result.data;
}

/**
 * Field names of the documents we verify, as Go structs spell them (OCI image-spec, Docker image
 * and manifest types, docker-save manifest.json), folded. Go's encoding/json matches object keys
 * to these fields ignoring case, so `"config"` and `"Config"` in one object are the same field to
 * skopeo or containerd (the last wins) but two keys to JSON.parse: a parser differential. Keys
 * outside this list (annotation and label names, which Go reads into exact-match maps) are
 * compared exactly.
 */
const GO_FIELD_NAMES: ReadonlySet<string> = new Set(
  [
    // descriptors, manifests, indexes, oci-layout, index.json
    'schemaVersion', 'mediaType', 'artifactType', 'config', 'layers', 'manifests', 'subject', 'annotations',
    'digest', 'size', 'urls', 'data', 'platform', 'architecture', 'os', 'os.version', 'os.features',
    'variant', 'features', 'imageLayoutVersion',
    // image config (OCI and Docker)
    'created', 'author', 'rootfs', 'type', 'diff_ids', 'history', 'created_by', 'comment', 'empty_layer',
    'container', 'container_config', 'docker_version', 'id', 'parent',
    'User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal',
    'ArgsEscaped', 'Healthcheck', 'Shell', 'OnBuild', 'Hostname', 'Domainname', 'AttachStdin', 'AttachStdout',
    'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Image', 'NetworkDisabled', 'MacAddress', 'StopTimeout',
    'Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries',
    // docker-save manifest.json
    'RepoTags', 'LayerSources',
  ].map(foldKey),
);

/**
 * Go's case folding for object keys, reduced to what can reach an ASCII field name: ASCII case,
 * and the two non-ASCII letters that fold to ASCII ones (U+212A KELVIN SIGN to k, U+017F LONG S
 * to s).
 */
function foldKey(key: string): string {
  const lower = key.toLowerCase();
  return lower.includes('\u017f') ? lower.replace(/\u017f/g, 's') : lower;
}

export interface DuplicateKey {
  /** The later key, as written (escapes decoded). */
  key: string;
  /** The earlier key it collides with. */
  first: string;
  /** Where the object is: "" for the top level, else like `layers[0]` or `config.Labels`. */
  path: string;
}

interface Frame {
  object: boolean;
  path: string;
  /** Objects: the keys seen, and for each its folded form when it is a Go field name (else ''). */
  keys?: string[];
  folded?: string[];
  /** Objects past SMALL_OBJECT_KEYS keys: the same as sets, so wide maps stay linear. */
  keySet?: Set<string>;
  foldedMap?: Map<string, string>;
  /** Objects: the next string is a key; the last key read. */
  expectKey?: boolean;
  lastKey?: string;
  /** Arrays: index of the current element. */
  index?: number;
}

/**
 * The first duplicate key in a JSON text (already accepted by JSON.parse): the same key twice in
 * one object, or two keys that are the same Go field name in another case. One pass over the
 * text; strings are skipped with indexOf, so it costs a fraction of JSON.parse.
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  // Jumps from one structural character to the next: numbers, literals and spaces are skipped natively.
  const structural = /["{}[\],]/g;
  for (let m = structural.exec(text); m; m = structural.exec(text)) {
    const i = m.index;
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22) {
      const end = stringEnd(text, i);
      if (top?.object && top.expectKey) {
        const inner = text.slice(i + 1, end);
        const key = inner.includes('\\') ? (JSON.parse(text.slice(i, end + 1)) as string) : inner;
        const collision = addKey(top, key);
        if (collision !== undefined) return { key, first: collision, path: top.path };
        top.expectKey = false;
        top.lastKey = key;
      }
      structural.lastIndex = end + 1;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      const path = !top ? '' : top.object ? (top.path ? `${top.path}.${top.lastKey}` : top.lastKey!) : `${top.path}[${top.index}]`;
      stack.push(c === 0x7b ? { object: true, path, keys: [], folded: [], expectKey: true } : { object: false, path, index: 0 });
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
    } else if (c === 0x2c && top) {
      if (top.object) top.expectKey = true;
      else top.index!++;
    }
  }
  return undefined;
}

/** Records `key` in an object's frame; returns the earlier key it collides with, if any. */
function addKey(frame: Frame, key: string): string | undefined {
  let fold = foldKey(key);
  if (!GO_FIELD_NAMES.has(fold)) fold = '';
  if (frame.keySet) {
    if (frame.keySet.has(key)) return key;
    const first = fold === '' ? undefined : frame.foldedMap!.get(fold);
    if (first !== undefined) return first;
    frame.keySet.add(key);
    if (fold !== '') frame.foldedMap!.set(fold, key);
    return undefined;
  }
  const keys = frame.keys!;
  const folded = frame.folded!;
  // Most objects here have a handful of keys: a linear scan beats building a Set for each.
  for (let k = 0; k < keys.length; k++) {
    if (keys[k] === key || (fold !== '' && folded[k] === fold)) return keys[k];
  }
  keys.push(key);
  folded.push(fold);
  if (keys.length > SMALL_OBJECT_KEYS) {
    frame.keySet = new Set(keys);
    frame.foldedMap = new Map();
    keys.forEach((k, n) => folded[n] !== '' && frame.foldedMap!.set(folded[n]!, k));
  }
  return undefined;
}

/** Objects with more keys than this are checked with a Set instead of a scan. */
const SMALL_OBJECT_KEYS = 16;

/** Index of the quote closing the string that opens at `start` (quotes after an odd run of backslashes are escaped). */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return text.length;
    let backslashes = 0;
    for (let k = q - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q;
    from = q + 1;
  }
}

export type ImageDocument =
  | { kind: 'manifest'; mediaType: string; manifest: Manifest }
  | { kind: 'index'; mediaType: string; index: Index };

/**
 * Parses a manifest or index, checking that the media type the referrer claimed (descriptor or
 * Content-Type) agrees with the document's own `mediaType` field and with its shape.
 */
export function parseImageDocument(raw: Uint8Array, claimedMediaType: string | undefined, what: string): ImageDocument {
  // Parsed once: the probe and the full schema both read this one value.
  const value = parseJsonValue(raw, what);
  const probe = validateJson(value, z.looseObject({ mediaType: z.string().optional(), manifests: z.unknown().optional(), layers: z.unknown().optional() }), what);
  const own = probe.mediaType;
  if (own && claimedMediaType && (isIndexType(claimedMediaType) || isManifestType(claimedMediaType)) && own !== claimedMediaType) {
    throw new OcitoolError('MEDIA_TYPE', `${what}: document says mediaType ${own} but was described as ${claimedMediaType}`);
  }
  const mediaType = own ?? claimedMediaType ?? (probe.manifests !== undefined ? MediaType.ociIndex : MediaType.ociManifest);
  if (isIndexType(mediaType)) {
    if (probe.layers !== undefined) throw new OcitoolError('MEDIA_TYPE', `${what}: media type ${mediaType} but the document has layers`);
    return { kind: 'index', mediaType, index: validateJson(value, IndexSchema, what) };
  }
  if (isManifestType(mediaType)) {
    if (probe.manifests !== undefined) throw new OcitoolError('MEDIA_TYPE', `${what}: media type ${mediaType} but the document has manifests`);
    return { kind: 'manifest', mediaType, manifest: validateJson(value, ManifestSchema, what) };
  }
  throw new OcitoolError('MEDIA_TYPE', `${what}: unsupported media type ${mediaType}`);
}
