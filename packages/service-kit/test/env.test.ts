import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../src/env.js';

const Schema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 9000, description: 'an integer port' }),
  MODE: Type.Optional(Type.Union([Type.Literal('real'), Type.Literal('simulation')])),
  VERBOSE: Type.Boolean({ default: false }),
});

describe('loadEnv', () => {
  it('fills defaults and converts types', () => {
    expect(loadEnv(Schema, {})).toEqual({ PORT: 9000, VERBOSE: false });
    expect(loadEnv(Schema, { PORT: '8080', MODE: 'real', VERBOSE: 'yes' })).toEqual({
      PORT: 8080,
      MODE: 'real',
      VERBOSE: true,
    });
  });

  it('names every bad variable in one error', () => {
    let error: unknown;
    try {
      loadEnv(Schema, { PORT: 'abc', MODE: 'fake', VERBOSE: 'maybe' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('PORT="abc"');
    expect(message).toContain('MODE="fake"');
    expect(message).toContain('VERBOSE="maybe"');
    expect((error as ConfigError).problems).toHaveLength(3);
  });

  it('refuses out-of-range numbers', () => {
    expect(() => loadEnv(Schema, { PORT: '70000' })).toThrow(/PORT="70000"/);
  });
});
