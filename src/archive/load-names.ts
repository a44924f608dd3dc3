/**
 * The store tags each image of a loaded archive gets (docs/save-load.md): `--name NAME` makes
 * every ref a tag of NAME, `--ref IMAGE=REF` loads ref REF as IMAGE, and otherwise a ref that is
 * a full image name, an `io.containerd.image.name` annotation or docker's RepoTags name the image;
 * an image that stays unnamed stops the load with the list of refs and a hint.
 */
import { OcitoolError } from '../errors.js';
import { formatReference, parseReference, quoteReference } from '../oci/reference.js';
import type { ArchiveImage } from './docker-archive.js';
import { fullName } from './refs.js';

export interface LoadNaming {
  name?: string;
  /** Full image name → ref, from --ref flags. */
  refs: Map<string, string>;
}

/** The refs an image answers to: its layout ref, or for docker archives the tags of its RepoTags. */
export function refsOf(image: ArchiveImage): string[] {
  if (image.refName !== undefined) return [image.refName];
  return image.imageNames.map((n) => parseReference(n).tag ?? 'latest');
}

/** Store tags for each image, in the order of `images` (empty: not loaded, when --ref selects others); throws before anything is copied. */
export function assignLoadNames(images: ArchiveImage[], naming: LoadNaming, label: string): string[][] {
  const byRef = new Map<string, string[]>();
  for (const [image, ref] of naming.refs) byRef.set(ref, [...(byRef.get(ref) ?? []), image]);
  const seenRefs = new Set(images.flatMap(refsOf));
  for (const ref of byRef.keys()) {
    if (!seenRefs.has(ref)) throw new OcitoolError('USAGE', `${label}: --ref names ref ${quoteReference(ref)}, which is not in the archive (it has: ${[...seenRefs].map(quoteReference).join(', ') || 'no refs'})`);
  }
  if (naming.name !== undefined && (naming.name.includes('@') || naming.name.split('/').pop()!.includes(':'))) {
    throw new OcitoolError('USAGE', `--name ${quoteReference(naming.name)}: give a repository without tag or digest; each ref becomes a tag`);
  }
  const base = naming.name === undefined ? undefined : parseReference(naming.name);
  const unnamed: string[] = [];
  const names = images.map((image) => {
    const out = new Set<string>();
    for (const ref of refsOf(image)) {
      for (const mapped of byRef.get(ref) ?? []) out.add(mapped);
      if (base && !byRef.has(ref)) out.add(formatReference({ ...base, tag: ref, digest: undefined }));
    }
    if (out.size === 0 && !base && naming.refs.size === 0) {
      for (const n of image.imageNames) out.add(fullName(n));
      const ref = image.refName;
      if (out.size === 0 && ref && /[:/]/.test(ref)) {
        try {
          out.add(fullName(ref));
        } catch {
          // not an image name; reported below
        }
      }
    }
    // An image the archive names nowhere (`docker save IMAGE-ID`: no RepoTags; a layout entry
    // without a ref) is kept untagged, by digest, as docker does; --name NAME names it NAME:latest.
    const refless = refsOf(image).length === 0 && image.imageNames.length === 0;
    if (refless && base && naming.refs.size === 0) out.add(formatReference({ ...base, tag: 'latest', digest: undefined }));
    else if (out.size === 0 && !refless) unnamed.push(image.refName ?? image.descriptor.digest);
    return [...out].sort();
  });
  if (unnamed.length > 0 && (naming.refs.size === 0 || naming.name !== undefined)) {
    throw new OcitoolError('USAGE', `${label}: cannot name ${unnamed.length === 1 ? 'the image with ref' : 'the images with refs'} ${unnamed.map(quoteReference).join(', ')}; use --name NAME to make each ref a tag of NAME, or --ref IMAGE=REF`, { details: { refs: unnamed } });
  }
  return names;
}
