/**
 * An OCI image layout (image-spec image-layout.md) as a copy source: `oci-layout`, `index.json`
 * (or a file holding one descriptor, bashbrew's `File:`), and `blobs/<alg>/<hex>`, read from a
 * folder or a tar through a FileTree.
 */
import type { Readable } from 'node:stream';
import { OcitoolError } from '../errors.js';
import { digestAlgorithm, digestHex } from '../oci/digest.js';
import { DescriptorSchema, IndexSchema, MAX_JSON_BYTES, OciLayoutSchema, parseJson, type Descriptor, type Index } from '../oci/schemas.js';
import type { ImageSource } from '../copy/transport.js';
import { openFileTree, type FileTree, type OpenTreeOptions } from './tree.js';

/** Layout versions this reader understands (image-spec 1.x keeps "1.0.0"). */
const SUPPORTED_LAYOUT_VERSION = /^1\.\d+\.\d+$/;

export function blobPath(desc: Pick<Descriptor, 'digest'>): string {
  return `blobs/${digestAlgorithm(desc.digest)}/${digestHex(desc.digest)}`;
}

export class LayoutSource implements ImageSource {
  readonly description: string;

  constructor(readonly tree: FileTree) {
    this.description = `oci layout ${tree.description}`;
  }

  /** Checks the `oci-layout` marker file. */
  async checkMarker(): Promise<void> {
    const raw = await this.tree.readFile('oci-layout', MAX_JSON_BYTES).catch((err) => {
      if (err instanceof OcitoolError && err.code === 'BLOB_MISSING') {
        throw new OcitoolError('LAYOUT_INVALID', `${this.tree.description}: not an OCI image layout (no oci-layout file)`);
      }
      throw err;
    });
    const marker = parseJson(raw, OciLayoutSchema, `${this.tree.description}: oci-layout`);
    if (!SUPPORTED_LAYOUT_VERSION.test(marker.imageLayoutVersion)) {
      throw new OcitoolError('LAYOUT_INVALID', `${this.tree.description}: oci-layout has imageLayoutVersion ${marker.imageLayoutVersion}; supported: 1.x`);
    }
  }

  async readIndex(file = 'index.json'): Promise<{ raw: Buffer; index: Index }> {
    const raw = await this.tree.readFile(file, MAX_JSON_BYTES);
    return { raw, index: parseJson(raw, IndexSchema, `${this.tree.description}: ${file}`) };
  }

  /** A JSON file holding one descriptor (bashbrew's `File:` naming something other than index.json). */
  async readDescriptorFile(file: string): Promise<Descriptor> {
    const raw = await this.tree.readFile(file, MAX_JSON_BYTES);
    return parseJson(raw, DescriptorSchema, `${this.tree.description}: ${file}`);
  }

  async readBlob(desc: Descriptor): Promise<Buffer> {
    return this.tree.readFile(blobPath(desc), MAX_JSON_BYTES + 1);
  }

  async openBlob(desc: Descriptor): Promise<Readable> {
    return this.tree.openFile(blobPath(desc));
  }

  async close(): Promise<void> {
    await this.tree.close();
  }
}

/** Opens a layout folder or tar and checks its marker. */
export async function openLayout(input: string | Readable, options: OpenTreeOptions = {}): Promise<LayoutSource> {
  const tree = await openFileTree(input, options);
  const layout = new LayoutSource(tree);
  try {
    await layout.checkMarker();
  } catch (err) {
    await layout.close();
    throw err;
  }
  return layout;
}
