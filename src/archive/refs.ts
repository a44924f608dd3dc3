/**
 * Which layout ref and image name each image gets when ocitool writes a layout (save, convert),
 * and which image name each layout ref gets when it loads one. The rules follow Docker's
 * `save/load --oci` proposal (docs/save-load.md): a ref is the image's tag, the full name goes in
 * `io.containerd.image.name`, `--ref IMAGE=REF` maps explicitly, `--name NAME` tags every ref.
 */
import { OcitoolError } from '../errors.js';
import { formatReference, parseReference, quoteReference } from '../oci/reference.js';

/** Parses `--ref IMAGE=REF` flags into full image name → ref. An image without tag means :latest. */
export function parseRefFlags(flags: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const flag of flags) {
    const eq = flag.lastIndexOf('=');
    if (eq <= 0 || eq === flag.length - 1) throw new OcitoolError('USAGE', `invalid --ref ${quoteReference(flag)}: expected IMAGE=REF, e.g. --ref redis=redis-latest`);
    const image = formatReference(parseReference(flag.slice(0, eq)));
    const ref = flag.slice(eq + 1);
    checkRefName(ref);
    if (out.has(image) && out.get(image) !== ref) throw new OcitoolError('USAGE', `--ref gives ${image} two refs: ${out.get(image)} and ${ref}`);
    out.set(image, ref);
  }
  return out;
}

/** The image-spec's grammar for `org.opencontainers.image.ref.name` (annotations.md). */
export function checkRefName(ref: string): void {
  if (!/^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/.test(ref)) {
    throw new OcitoolError('USAGE', `invalid ref ${quoteReference(ref)}: letters, digits and - . _ : @ + / separators only`);
  }
}

/**
 * Assigns a ref to each full image name for save: `--ref` when given, else the tag. Two images
 * with the same ref stop the save, as the proposal says.
 */
export function assignSaveRefs(imageNames: string[], refFlags: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  const owner = new Map<string, string>();
  for (const name of imageNames) {
    const ref = refFlags.get(name) ?? parseReference(name).tag!;
    const clash = owner.get(ref);
    if (clash !== undefined && clash !== name) {
      throw new OcitoolError('REF_CLASH', `unable to include unique references in oci image: ${clash} and ${name} both get ref "${ref}"; map them with --ref IMAGE=REF, e.g. --ref ${name}=${ref}-2`, { details: { ref, images: [clash, name] } });
    }
    owner.set(ref, name);
    out.set(name, ref);
  }
  for (const flagged of refFlags.keys()) {
    if (!out.has(flagged)) throw new OcitoolError('USAGE', `--ref names ${flagged}, which is not one of the images being saved`);
  }
  return out;
}

/**
 * Assigns refs for convert: the tag, or the full familiar name for every image when two tags
 * would clash (convert has no --ref; it never fails on names).
 */
export function assignConvertRefs(imageNames: string[]): Map<string, string> {
  try {
    return assignSaveRefs(imageNames, new Map());
  } catch (err) {
    // Two tags clash: convert never fails on names, every image gets its full name as ref; any other error is real.
    if (err instanceof OcitoolError && err.code === 'REF_CLASH') return new Map(imageNames.map((n) => [n, n]));
    throw err;
  }
}

/** Normalizes a name as written in RepoTags or io.containerd.image.name to a full tagged name. */
export function fullName(name: string): string {
  return formatReference(parseReference(name));
}
