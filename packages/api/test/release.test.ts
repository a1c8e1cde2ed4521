// One version for the whole system (docs/releasing.md): SYSTEM_VERSION, the root package.json, the Python client,
// CITATION.cff and a section of CHANGELOG.md all name it; every package is under the repository's licence.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYSTEM_VERSION } from '../src/common.js';

const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const json = (path: string) => JSON.parse(read(path)) as { version?: string; license?: string; workspaces?: string[] };

/** The root package.json and every workspace's (the root's workspaces globs: `dir` or `dir/*`). */
function packageFiles(): string[] {
  const files = ['package.json'];
  for (const pattern of json('package.json').workspaces ?? []) {
    const dirs = pattern.endsWith('/*')
      ? readdirSync(join(root, pattern.slice(0, -2))).map((d) => `${pattern.slice(0, -2)}/${d}`)
      : [pattern];
    for (const dir of dirs) if (existsSync(join(root, dir, 'package.json'))) files.push(`${dir}/package.json`);
  }
  return files;
}

describe('the release version and licence', () => {
  it('is a semantic version, named alike everywhere', () => {
    expect(SYSTEM_VERSION).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    for (const path of packageFiles()) expect(json(path).version, path).toBe(SYSTEM_VERSION);
    expect(read('python/pyproject.toml')).toMatch(new RegExp(`^version = "${SYSTEM_VERSION}"$`, 'm'));
    expect(read('CITATION.cff')).toMatch(new RegExp(`^version: "${SYSTEM_VERSION}"$`, 'm'));
    expect(read('CHANGELOG.md')).toMatch(
      new RegExp(`^## \\[${SYSTEM_VERSION.replaceAll('.', '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'),
    );
  });

  it('is MIT throughout: LICENSE, the npm packages, the Python client and the citation', () => {
    expect(read('LICENSE')).toMatch(/^MIT License\n/);
    for (const path of packageFiles()) expect(json(path).license, path).toBe('MIT');
    expect(read('python/pyproject.toml')).toMatch(/^license = \{ text = "MIT" \}$/m);
    expect(read('CITATION.cff')).toMatch(/^license: MIT$/m);
  });

  it('has a CITATION.cff with what Citation File Format 1.2.0 requires', () => {
    const cff = read('CITATION.cff');
    for (const key of ['cff-version: 1.2.0', 'message: ', 'title: ', 'authors:', 'date-released: ']) {
      expect(cff).toContain(key);
    }
  });
});
