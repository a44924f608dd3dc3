/**
 * Names inside an archive: every tar entry name, link target and path named by manifest.json is
 * normalized here (leading `./` dropped, `//` collapsed) and refused when it is absolute or has a
 * `..` component, so nothing read from an archive can point outside it.
 */
import path from 'node:path';
import { OcitoolError } from '../errors.js';

/** The normalized name of `name`, or '' for the archive root (`./`); throws PATH_UNSAFE. */
export function normalizeEntryName(name: string, what: string): string {
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name)) {
    throw new OcitoolError('PATH_UNSAFE', `${what}: absolute path "${name}" is not allowed in an archive`, { details: { path: name } });
  }
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new OcitoolError('PATH_UNSAFE', `${what}: path "${name}" has a ".." component`, { details: { path: name } });
  }
  return parts.join('/');
}

/** Where a symlink at `entryName` pointing to `target` lands, refusing targets outside the archive. */
export function resolveSymlinkTarget(entryName: string, target: string, what: string): string {
  if (target.startsWith('/')) {
    throw new OcitoolError('PATH_UNSAFE', `${what}: symlink "${entryName}" points to absolute path "${target}", outside the archive`, { details: { path: entryName, target } });
  }
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(entryName), target));
  if (joined === '..' || joined.startsWith('../')) {
    throw new OcitoolError('PATH_UNSAFE', `${what}: symlink "${entryName}" points to "${target}", outside the archive`, { details: { path: entryName, target } });
  }
  return joined === '.' ? '' : joined;
}
