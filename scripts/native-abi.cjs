// Preloaded (node --require) when the tests run on a second Node.js (scripts/test-node24.sh). npm ci builds each
// native addon for the Node.js that ran it, into <package>/build/Release; another Node.js major has another ABI and
// refuses that file. scripts/test-node24.sh builds the addon for its ABI into <package>/build/node-v<ABI>/, and this
// hook loads that file in place of the build/Release one, so both builds live side by side and neither Node.js
// overwrites the other's. Without a build for this ABI, the original file is loaded (and fails as it would anyway).
'use strict';
const { existsSync } = require('node:fs');
const { basename, dirname, join } = require('node:path');

const dlopen = process.dlopen;
process.dlopen = function dlopenForThisAbi(module, filename, ...rest) {
  const release = dirname(filename);
  if (basename(release) === 'Release' && basename(dirname(release)) === 'build') {
    const own = join(dirname(release), `node-v${process.versions.modules}`, basename(filename));
    if (existsSync(own)) return dlopen.call(this, module, own, ...rest);
  }
  return dlopen.call(this, module, filename, ...rest);
};
