// Builds the browser UI into ui/dist, which the web server serves; nothing is loaded from a CDN. Every asset is also
// written brotli- and gzip-compressed beside itself, so the web server sends the compressed file as it is (no
// compression work per request on a Raspberry Pi).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/** Smaller files are sent as they are: compressing them saves less than the headers cost. */
const MIN_COMPRESS_BYTES = 1024;

function precompress(): Plugin {
  let outDir = '';
  return {
    name: 'bioreactor-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = join(config.root, config.build.outDir);
    },
    writeBundle(_options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css|svg|json|html)$/.test(name)) continue;
        const path = join(outDir, name);
        const bytes = readFileSync(path);
        if (bytes.length < MIN_COMPRESS_BYTES) continue;
        writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
        writeFileSync(`${path}.br`, brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      }
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react(), precompress()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
});
