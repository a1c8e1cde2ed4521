// How the three services are built and run outside the tests: each is bundled with esbuild into
// apps/<service>/dist/server.mjs (TypeScript and the workspace packages compiled once; npm dependencies stay in
// node_modules) and run with plain `node`. `npm start`, the benchmarks and the Docker images all run these bundles,
// so what is measured is what is deployed. `npx tsx scripts/services.ts` builds them by hand.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const SERVICE_NAMES = ['node', 'hub', 'web'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export function serviceBundle(name: ServiceName): string {
  return join(repoRoot, 'apps', name, 'dist', 'server.mjs');
}

/**
 * V8 flags per service. The node runs on the Raspberry Pi next to the experiment's container: smaller young-generation
 * semi-spaces keep its idle RSS under 100 MB (about 20 MB less) for a few more, shorter scavenges.
 */
const NODE_FLAGS: Record<ServiceName, string[]> = {
  node: ['--max-semi-space-size=2'],
  hub: [],
  web: [],
};

/** Arguments to `node` that run a built service (deploy/*.Dockerfile repeat them in their CMD). */
export function serviceArgs(name: ServiceName): string[] {
  return ['--enable-source-maps', ...NODE_FLAGS[name], serviceBundle(name)];
}

/**
 * Modules find files next to their source (the hub's migrations, its script checker, the web UI, the Python client)
 * through import.meta.url; in the bundle that URL is the bundle's own, so each use is rewritten to the source file's
 * URL relative to the bundle, which keeps working wherever the tree (source next to dist) is moved.
 */
function sourceRelativeMetaUrl(outDir: string): Plugin {
  return {
    name: 'source-relative-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const rel = relative(outDir, args.path).split('\\').join('/');
        return {
          contents: source.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
          loader: 'ts',
        };
      });
    },
  };
}

/** npm packages stay external (native addons, files they read at run time); workspace packages are compiled in. */
const externalNpmPackages: Plugin = {
  name: 'external-npm-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@bioreactor/') || args.path.startsWith('node:') ? undefined : { external: true },
    );
  },
};

/** Builds every service bundle. Files are replaced atomically, so a service starting meanwhile reads a whole one. */
export async function buildServices(names: readonly ServiceName[] = SERVICE_NAMES): Promise<void> {
  await Promise.all(
    names.map(async (name) => {
      const out = serviceBundle(name);
      const outDir = dirname(out);
      const result = await build({
        entryPoints: [join(repoRoot, 'apps', name, 'src', 'server.ts')],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: out,
        sourcemap: 'linked',
        write: false,
        logLevel: 'warning',
        plugins: [externalNpmPackages, sourceRelativeMetaUrl(outDir)],
      });
      mkdirSync(outDir, { recursive: true });
      for (const file of result.outputFiles) {
        const tmp = `${file.path}.${process.pid}.tmp`;
        writeFileSync(tmp, file.contents);
        renameSync(tmp, file.path);
      }
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  await buildServices();
  for (const name of SERVICE_NAMES) {
    const bytes = readFileSync(serviceBundle(name)).length;
    process.stdout.write(`${relative(repoRoot, serviceBundle(name))}: ${(bytes / 1024).toFixed(0)} kB\n`);
  }
  process.stdout.write(`built in ${Date.now() - started} ms\n`);
}
