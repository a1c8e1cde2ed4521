// Whether an experiment image's bioreactor_client fits this node: the image carries a label naming its client
// (version, API level, a hash of python/src/bioreactor_client: runtime/client_label.py at build time; or the same
// line in /opt/bioreactor/client.txt) and
// the node compares it with its own API level and, when it has the repository's python/src, with its hash. An image
// whose client is older than the node's API, or another than the node's own, is refused with the reason and the fix.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_API_LEVEL, CLIENT_LABEL } from '@bioreactor/api';

export { CLIENT_LABEL };
/** Where runtime/Dockerfile writes the same line as the label, in the image. */
export const CLIENT_FILE = '/opt/bioreactor/client.txt';

export interface ImageClient {
  version: string;
  api: number;
  sha256: string;
}

/** What the node expects: its API level, and the hash of its own python/src when it has one (a repository). */
export interface ExpectedClient {
  api: number;
  sha256: string | null;
  /** Where that python/src is, for the messages. */
  source: string | null;
}

const REBUILD =
  'rebuild it with runtime/build-image.sh (or docker build with --build-arg BIOREACTOR_CLIENT="$(python3 runtime/client_label.py)")';

/** `version=3.0.0 api=2 sha256=…` as its parts; null for anything else. */
export function parseClientLabel(label: string | undefined): ImageClient | null {
  const m = /^version=(\S+) api=(\d+) sha256=([0-9a-f]{32})$/.exec(label?.trim() ?? '');
  return m ? { version: m[1] as string, api: Number(m[2]), sha256: m[3] as string } : null;
}

/** runtime/client_label.py's hash of a repository's python/src/bioreactor_client (null without one). */
export function clientHash(root: string): string | null {
  const pkg = join(root, 'python', 'src', 'bioreactor_client');
  if (!existsSync(join(pkg, '__init__.py'))) return null;
  const paths: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== '__pycache__') walk(path);
      } else if (!name.endsWith('.pyc')) paths.push(relative(root, path).split(sep).join('/'));
    }
  };
  walk(pkg);
  const lines = paths
    .sort()
    .map(
      (path) =>
        `${createHash('sha256')
          .update(readFileSync(join(root, path)))
          .digest('hex')}  ${path}\n`,
    )
    .join('');
  return createHash('sha256').update(lines).digest('hex').slice(0, 32);
}

/** The repository this node runs from, if it does: the first folder up from here holding python/src. */
function repositoryRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'python', 'src', 'bioreactor_client', '__init__.py'))) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

let expected: ExpectedClient | undefined;
/** This node's expectation (computed once: python/src does not change under a running node it matters to). */
export function expectedClient(): ExpectedClient {
  if (!expected) {
    const root = repositoryRoot();
    expected = {
      api: CLIENT_API_LEVEL,
      sha256: root ? clientHash(root) : null,
      source: root ? join(root, 'python', 'src', 'bioreactor_client') : null,
    };
  }
  return expected;
}

/** Why the image's client does not fit this node, or null when it does. */
export function clientRefusal(image: string, label: string | undefined, want: ExpectedClient): string | null {
  const client = parseClientLabel(label);
  if (!client)
    return `image ${image} does not say which bioreactor_client it holds (no ${CLIENT_LABEL} label or ${CLIENT_FILE}; built before the node checked it): ${REBUILD}`;
  if (client.api < want.api)
    return `image ${image} holds bioreactor_client ${client.version} at API level ${client.api}, older than this node's API (level ${want.api}): ${REBUILD}`;
  if (want.sha256 !== null && client.sha256 !== want.sha256)
    return `image ${image} holds a bioreactor_client (${client.version}, sha256 ${client.sha256}) other than this node's ${want.source} (sha256 ${want.sha256}): ${REBUILD}`;
  return null;
}
