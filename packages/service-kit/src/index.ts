// @bioreactor/service-kit: the parts every service shares, so each one does them the same way.
export * from './body.js';
export * from './client.js';
export * from './env.js';
export * from './errors.js';
export * from './multipart.js';
export * from './openapi.js';
export * from './run.js';
export * from './service.js';
export * from './sse.js';
