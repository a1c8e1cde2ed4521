// @bioreactor/client: typed HTTP clients of the node, the hub and the web server (openapi-fetch over the types that
// openapi-typescript generates from openapi/*.json; `npm run generate:client` regenerates them).
export { defaultHeaders, formData } from './common.js';
export * from './hub.js';
export * from './node.js';
export * from './web.js';
