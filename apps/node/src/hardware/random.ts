// A small seeded generator so a simulation replays exactly under the same seed.

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Normal with mean 0 and the given standard deviation. */
  gaussian(sd: number): number;
}

export function createRandom(seed: number): Random {
  // mulberry32: 32-bit state, good enough spread for sensor noise.
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    gaussian(sd) {
      const u = Math.max(next(), 1e-12);
      const v = next();
      return sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
  };
}
