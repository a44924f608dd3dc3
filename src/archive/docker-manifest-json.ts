/**
 * The Docker-style `manifest.json` written beside an OCI layout (as Docker 25+ does), so tools
 * that only read docker archives accept ocitool's tars: one entry per image manifest, with Config
 * and Layers naming files under blobs/ and RepoTags the familiar image names. An index root is
 * listed through its first manifest child that was written (docker picks one platform too).
 */
import { digestAlgorithm, digestHex } from '../oci/digest.js';
import { familiarName, parseReference } from '../oci/reference.js';
import { walkImage, type ManifestNode } from '../oci/graph.js';
import type { Descriptor } from '../oci/schemas.js';
import type { SinkRoot } from '../copy/transport.js';

const blobPath = (d: Descriptor) => `blobs/${digestAlgorithm(d.digest)}/${digestHex(d.digest)}`;

/** Builds manifest.json; `read` returns a small blob the sink holds (throws if absent). */
export async function dockerManifestJson(roots: SinkRoot[], imageNames: Map<string, string>, read: (d: Descriptor) => Buffer): Promise<Buffer> {
  const entries = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  for (const root of roots) {
    const first = await firstManifest(root.descriptor, read);
    if (!first) continue;
    const entry = entries.get(first.descriptor.digest) ?? { Config: blobPath(first.manifest.config), RepoTags: [], Layers: first.manifest.layers.map(blobPath) };
    for (const ref of root.names) {
      const name = imageNames.get(ref);
      if (name) {
        const familiar = familiarName(parseReference(name));
        if (!entry.RepoTags.includes(familiar)) entry.RepoTags.push(familiar);
      }
    }
    entries.set(first.descriptor.digest, entry);
  }
  return Buffer.from(JSON.stringify([...entries.values()]));
}

/** The first manifest under a root, depth first, through the graph walker (the sink wrote every child it lists). */
async function firstManifest(root: Descriptor, read: (d: Descriptor) => Buffer): Promise<ManifestNode | undefined> {
  let first: ManifestNode | undefined;
  await walkImage<void>(root, {
    read: async (desc) => (first ? undefined : read(desc)),
    config: 'never',
    visitIndex: async () => {},
    visitManifest: async (node) => {
      first ??= node;
    },
  });
  return first;
}
