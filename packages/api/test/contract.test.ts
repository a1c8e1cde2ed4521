// The contract itself: error codes map to real statuses, every route declares its responses, schemas compile.

import { Compile } from 'typebox/compile';
import { describe, expect, it } from 'vitest';
import {
  ACTIVE_STATES,
  COMPONENT_NAMES,
  COMPONENT_STATE_SCHEMAS,
  ERROR_CATALOGUE,
  ERROR_CODES,
  EXPERIMENT_ID_PATTERN,
  EXPERIMENT_STATE_LIST,
  FINAL_STATES,
  GUIDE_COMPONENT_NAMES,
  hubRoutes,
  nodeExperimentRoutes,
  nodeRoutes,
  webRoutes,
} from '../src/index.js';

const allRoutes = { ...nodeRoutes, ...nodeExperimentRoutes, ...hubRoutes, ...webRoutes };

describe('error catalogue', () => {
  it('maps every code to a 4xx or 5xx status', () => {
    for (const code of ERROR_CODES) {
      const { status } = ERROR_CATALOGUE[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(code).toMatch(/^[A-Z][A-Z_]+$/);
    }
  });
});

describe('experiment states', () => {
  it('splits into active and final sets that cover every state once', () => {
    const covered = [...ACTIVE_STATES, ...FINAL_STATES].sort();
    expect(covered).toEqual([...EXPERIMENT_STATE_LIST].sort());
  });

  it('accepts only ids that are safe directory names', () => {
    const re = new RegExp(EXPERIMENT_ID_PATTERN);
    expect(re.test('3f2c1a9e-0b7d-4a61-9a55-1c2d3e4f5a6b')).toBe(true);
    for (const bad of ['../etc', 'a/b', '', '.hidden', 'x'.repeat(65)]) expect(re.test(bad), bad).toBe(false);
  });
});

describe('route contracts', () => {
  it('declare a 200 response and compile every schema', () => {
    for (const [name, route] of Object.entries(allRoutes)) {
      expect(route.schema.response[200], name).toBeDefined();
      for (const schema of Object.values(route.schema.response)) Compile(schema as never);
    }
  });

  it('have unique method and URL pairs per service', () => {
    for (const group of [{ ...nodeRoutes, ...nodeExperimentRoutes }, hubRoutes, webRoutes]) {
      const keys = Object.values(group).map((r) => `${r.method} ${r.url}`);
      expect(new Set(keys).size).toBe(keys.length);
    }
  });

  it('give every component a state schema, the guide’s nine first', () => {
    expect(Object.keys(COMPONENT_STATE_SCHEMAS)).toEqual([...COMPONENT_NAMES]);
    expect(COMPONENT_NAMES.slice(0, 9)).toEqual([...GUIDE_COMPONENT_NAMES]);
  });
});
