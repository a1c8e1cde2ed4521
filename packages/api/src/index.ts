// @bioreactor/api: the contract every service and the browser UI share. Schemas and pure helpers only, no I/O.
export * from './auth.js';
export * from './client-api.js';
export * from './common.js';
export * from './components.js';
export * from './documented-schemas.js';
export * from './durations.js';
export * from './errors.js';
export * from './events.js';
export * from './experiments.js';
export * from './hub-routes.js';
export * from './node-routes.js';
export * from './openapi.js';
export * from './programs.js';
export * from './readings.js';
export * from './web-routes.js';
