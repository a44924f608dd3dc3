/**
 * Layout refs on the command line: `PATH:REF` as skopeo (oci:DIR:REF) and umoci (DIR:TAG) write
 * it, and the rule that writing a ref which already names another image in a layout folder needs
 * --force (docker and skopeo repoint silently; a script that reuses a folder should not lose an
 * image without saying so).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { OcitoolError, withContext } from '../errors.js';
import type { ImageSink, SinkRoot } from '../copy/transport.js';
import { ANNOTATION_REF_NAME } from '../oci/annotations.js';
import { IndexSchema, parseJson } from '../oci/schemas.js';
import { isEnoent } from '../util/fs.js';

async function present(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isEnoent(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw withContext(p, err);
  }
}

/**
 * PATH or PATH:REF. A path that exists is taken whole, even with ':' in it; otherwise the text
 * after the last ':' is the ref when what is before it exists (or, for an output, always).
 */
export async function splitLayoutRef(argument: string, options: { output?: boolean } = {}): Promise<{ path: string; ref: string | undefined }> {
  if (await present(argument)) return { path: argument, ref: undefined };
  const colon = argument.lastIndexOf(':');
  // A ref never holds '/': "dir/a:b/c" is a path.
  if (colon > 0 && colon < argument.length - 1 && !argument.slice(colon + 1).includes('/')) {
    const head = argument.slice(0, colon);
    if (options.output || (await present(head))) return { path: head, ref: argument.slice(colon + 1) };
  }
  if (options.output) return { path: argument, ref: undefined };
  throw new OcitoolError('NOT_FOUND', `${argument}: no such file or folder`);
}

/** Ref → digest of the layout folder's index.json; empty when there is none yet. */
export async function layoutRefs(dir: string): Promise<Map<string, string>> {
  const file = path.join(dir, 'index.json');
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    if (isEnoent(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return new Map();
    throw withContext(file, err);
  }
  const out = new Map<string, string>();
  for (const entry of parseJson(raw, IndexSchema, file).manifests) {
    const ref = entry.annotations?.[ANNOTATION_REF_NAME];
    if (ref !== undefined) out.set(ref, entry.digest);
  }
  return out;
}

/** Throws when a root would repoint an existing ref of the folder `dir` (unless `force`). */
export async function checkRepoint(dir: string, roots: Pick<SinkRoot, 'descriptor' | 'names'>[], force: boolean): Promise<void> {
  if (force) return;
  const existing = await layoutRefs(dir);
  for (const root of roots) {
    for (const ref of root.names) {
      const old = existing.get(ref);
      if (old !== undefined && old !== root.descriptor.digest) {
        throw new OcitoolError('REF_CLASH', `${dir}: ref ${JSON.stringify(ref)} names ${old}; writing ${root.descriptor.digest} would repoint it (use --force to replace it)`, { details: { ref, existing: old, new: root.descriptor.digest } });
      }
    }
  }
}

/**
 * The sink, with its commit checking for repointed refs first (the digests are known only once
 * the engine has chosen platforms) and, when `rename` is given, naming every root with it.
 */
export function guardLayoutSink(sink: ImageSink, dir: string, options: { force: boolean; rename?: string }): ImageSink {
  const commit = async (roots: SinkRoot[]): Promise<void> => {
    const named = options.rename === undefined ? roots : roots.map((r) => ({ ...r, names: [options.rename!] }));
    await checkRepoint(dir, named, options.force);
    await sink.commit(named);
  };
  return new Proxy(sink, {
    get(target, prop, receiver) {
      if (prop === 'commit') return commit;
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
