// The npm packages of .tools/ (installed by scripts/install-tools.sh), for scripts that are run
// with plain `node` from anywhere: ES modules do not look in NODE_PATH, so resolve from there.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function requireTool(name) {
  const manifest = path.join(repoRoot, '.tools', 'package.json');
  if (!existsSync(manifest)) {
    throw new Error(`${manifest} is missing: run scripts/install-tools.sh (make deps) first`);
  }
  return createRequire(manifest)(name);
}
