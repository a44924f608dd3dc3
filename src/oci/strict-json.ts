/**
 * Duplicate keys in JSON text, which JSON.parse cannot see: the same key twice in one object, or
 * two keys Go's encoding/json reads as one struct field. Used by parseJsonValue (schemas.ts) so
 * that every document we verify means the same to us as to skopeo, containerd and the registry.
 */

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
