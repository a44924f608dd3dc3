/** The package version, read from package.json beside dist/ (no JSON import: cheap at start-up). */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  // dist/src/cli/version.js → the package root's package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
