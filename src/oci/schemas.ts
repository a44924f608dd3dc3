/**
 * zod schemas for every JSON document that crosses a boundary: descriptors, manifests, indexes,
 * image configs, `oci-layout`, Docker's archive `manifest.json`. Documents are parsed from their
 * raw bytes, which travel with the parsed value so that digests always cover what was received.
 */
import { z } from 'zod/v3';
import { OcitoolError } from '../errors.js';
import { parseDigest, type Digest } from './digest.js';
import { isIndexType, isManifestType, MediaType } from './media-types.js';
import { findDuplicateKey } from './strict-json.js';

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
export const ImageConfigSchema = z.object({
  architecture: z.string().optional(),
  os: z.string().optional(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(digestSchema) }),
}).passthrough();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

export const OciLayoutSchema = z.object({ imageLayoutVersion: z.string() });

/** One entry of a `docker save` archive's manifest.json. */
export const DockerArchiveEntrySchema = z.object({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullable().optional(),
  Layers: z.array(z.string()),
  LayerSources: z.record(z.string(), DescriptorSchema).optional(),
}).passthrough();
export const DockerArchiveManifestSchema = z.array(DockerArchiveEntrySchema);
export type DockerArchiveEntry = z.infer<typeof DockerArchiveEntrySchema>;

/** Parses raw JSON bytes through a schema; `what` names the document in every error. */
export function parseJson<T extends z.ZodTypeAny>(raw: Uint8Array, schema: T, what: string): z.infer<T> {
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
export function validateJson<T extends z.ZodTypeAny>(value: unknown, schema: T, what: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    // Collect every problem, not just the first, so one run shows the user all that is wrong.
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    const code = result.error.issues.some((i) => /digest algorithm/.test(i.message)) ? 'DIGEST_UNSUPPORTED' : 'JSON_INVALID';
    throw new OcitoolError(code, `${what}: ${problems}`);
  }
  return result.data;
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
  const probe = validateJson(value, z.object({ mediaType: z.string().optional(), manifests: z.unknown().optional(), layers: z.unknown().optional() }).passthrough(), what);
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
