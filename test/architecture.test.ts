// The architecture's nevers, checked on every import of the TypeScript sources (biome.json's noRestrictedImports
// says the same per folder while editing; this also resolves relative paths and finds cycles):
// - the contract (packages/api/src) imports nothing of ours and does no I/O;
// - drivers and the rest of the node's hardware, and the hub's queue, import no HTTP framework and no routes;
// - a hardware component (components/) reaches the node only through its context, never the controller;
// - the browser UI imports only the contract and the generated client among our packages, nothing of the servers;
// - no import cycles anywhere (type-only imports count: a cycle of types is a cycle of design).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const rel = (path: string) => relative(root, path).split('\\').join('/');

/** Our workspace packages as the sources import them. */
const WORKSPACE: Record<string, string> = {
  '@bioreactor/api': 'packages/api/src/index.ts',
  '@bioreactor/service-kit': 'packages/service-kit/src/index.ts',
  '@bioreactor/client': 'packages/client/src/index.ts',
  '@bioreactor/client/node': 'packages/client/src/node.ts',
  '@bioreactor/client/hub': 'packages/client/src/hub.ts',
  '@bioreactor/client/web': 'packages/client/src/web.ts',
};

function sourceFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|tsx|mts|mjs)$/.test(name) && !/\.d\.m?ts$/.test(name)) out.push(path);
  }
  return out;
}

interface Edge {
  /** As written. */
  specifier: string;
  /** The repository file it resolves to (relative), or undefined for a package outside the repository. */
  target?: string;
}

function resolveImport(from: string, specifier: string): string | undefined {
  if (specifier.startsWith('.')) {
    const base = resolve(dirname(from), specifier);
    const candidates = [
      base.replace(/\.js$/, '.ts'),
      base.replace(/\.js$/, '.tsx'),
      base.replace(/\.mjs$/, '.mts'),
      base,
      `${base}.ts`,
      join(base, 'index.ts'),
    ];
    const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    return hit ? rel(hit) : rel(base);
  }
  return WORKSPACE[specifier];
}

const files = ['packages', 'apps'].flatMap((top) =>
  readdirSync(join(root, top)).flatMap((w) => [
    ...sourceFiles(join(root, top, w, 'src')),
    ...sourceFiles(join(root, top, w, 'ui', 'src')),
  ]),
);
const graph = new Map<string, Edge[]>(
  files.map((file) => {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const edges = info.importedFiles.map(({ fileName }) => ({
      specifier: fileName,
      target: resolveImport(file, fileName),
    }));
    return [rel(file), edges];
  }),
);

const under = (prefix: string) => [...graph.entries()].filter(([file]) => file.startsWith(prefix));
const isWorkspace = (specifier: string) => specifier.startsWith('@bioreactor/');
const HTTP = /^(fastify|@fastify\/|@bioreactor\/service-kit)/;

describe('architecture', () => {
  it('reads the sources it guards', () => {
    expect(under('packages/api/src/').length).toBeGreaterThan(5);
    expect(under('apps/node/src/hardware/').length).toBeGreaterThan(10);
    expect(under('apps/web/ui/src/').length).toBeGreaterThan(10);
    expect(under('apps/hub/src/queue/').length).toBeGreaterThan(3);
  });

  it('the contract imports nothing of ours and no Node.js module', () => {
    const bad = under('packages/api/src/').flatMap(([file, edges]) =>
      edges
        .filter(
          (e) =>
            isWorkspace(e.specifier) ||
            e.specifier.startsWith('node:') ||
            (e.target !== undefined && !e.target.startsWith('packages/api/src/')) ||
            (!e.specifier.startsWith('.') && !/^typebox(\/|$)/.test(e.specifier)),
        )
        .map((e) => `${file} → ${e.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('the hardware (drivers included) and the hub queue import no HTTP framework and no routes', () => {
    const bad = [...under('apps/node/src/hardware/'), ...under('apps/hub/src/queue/')].flatMap(([file, edges]) =>
      edges
        .filter(
          (e) =>
            HTTP.test(e.specifier) || (e.target !== undefined && /\/src\/(routes\/|app\.ts|server\.ts)/.test(e.target)),
        )
        .map((e) => `${file} → ${e.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('a hardware component sees the node only through its context: no component imports the controller', () => {
    const controller = /^apps\/node\/src\/hardware\/(hardware|index|registry|sampler|simulation)\.ts$/;
    const bad = under('apps/node/src/hardware/components/').flatMap(([file, edges]) =>
      edges.filter((e) => e.target !== undefined && controller.test(e.target)).map((e) => `${file} → ${e.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('the browser UI imports only the contract and the generated client of ours', () => {
    const bad = under('apps/web/ui/src/').flatMap(([file, edges]) =>
      edges
        .filter(
          (e) =>
            (isWorkspace(e.specifier) && !/^@bioreactor\/(api|client)(\/|$)/.test(e.specifier)) ||
            e.specifier.startsWith('node:') ||
            HTTP.test(e.specifier) ||
            (e.specifier.startsWith('.') && !e.target?.startsWith('apps/web/ui/src/')),
        )
        .map((e) => `${file} → ${e.specifier}`),
    );
    expect(bad).toEqual([]);
  });

  it('has no import cycles', () => {
    // Tarjan's strongly connected components over every import, type-only ones included.
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string) => {
      index.set(v, next);
      low.set(v, next);
      next++;
      stack.push(v);
      onStack.add(v);
      for (const { target } of graph.get(v) ?? []) {
        if (target === undefined || !graph.has(target)) continue;
        if (!index.has(target)) {
          visit(target);
          low.set(v, Math.min(low.get(v) ?? 0, low.get(target) ?? 0));
        } else if (onStack.has(target)) low.set(v, Math.min(low.get(v) ?? 0, index.get(target) ?? 0));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string | undefined;
        do {
          w = stack.pop();
          if (w === undefined) break;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1) cycles.push(component.sort());
      }
    };
    for (const file of graph.keys()) if (!index.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
