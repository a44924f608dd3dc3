/**
 * The Docker-style `manifest.json` written beside an OCI layout (as Docker 25+ does), so tools
 * that only read docker archives accept ocitool's tars: one entry per image manifest, with Config
 * and Layers naming files under blobs/ and RepoTags the familiar image names. An index root is
 * listed through its first manifest child that was written (docker picks one platform too).
 */
import { digestAlgorithm, digestHex } from '../oci/digest.js';
import { familiarName, parseReference } from '../oci/reference.js';
import { parseImageDocument, type Descriptor } from '../oci/schemas.js';
import type { SinkRoot } from '../copy/transport.js';

const blobPath = (d: Descriptor) => `blobs/${digestAlgorithm(d.digest)}/${digestHex(d.digest)}`;

/** Builds manifest.json; `read` returns a small blob the sink holds (throws if absent). */
export function dockerManifestJson(roots: SinkRoot[], imageNames: Map<string, string>, read: (d: Descriptor) => Buffer): Buffer {
  const entries = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const root of roots) {
    const manifestDesc = firstManifest(root.descriptor, read);
    if (!manifestDesc) continue;
    const doc = parseImageDocument(read(manifestDesc), manifestDesc.mediaType, manifestDesc.digest);
    if (doc.kind !== 'manifest') continue;
    const entry = entries.get(manifestDesc.digest) ?? { Config: blobPath(doc.manifest.config), RepoTags: [], Layers: doc.manifest.layers.map(blobPath) };
    for (const ref of root.names) {
      const name = imageNames.get(ref);
      if (name) {
        const familiar = familiarName(parseReference(name));
        if (!entry.RepoTags.includes(familiar)) entry.RepoTags.push(familiar);
      }
    }
    entries.set(manifestDesc.digest, entry);
  }
  return Buffer.from(JSON.stringify([...entries.values()]));
}

function firstManifest(desc: Descriptor, read: (d: Descriptor) => Buffer): Descriptor | undefined {
  let current: Descriptor | undefined = desc;
  for (let depth = 0; current && depth < 8; depth++) {
    const doc = parseImageDocument(read(current), current.mediaType, current.digest);
    if (doc.kind === 'manifest') return current;
    current = doc.index.manifests.find((child) => {
      try {
        read(child);
        return true;
      } catch {
        return false;
      }
    });
  }
  return undefined;
}
