// Seeded randomness for the fuzzer: every request draws from its own fast-check generator,
// seeded from the run's seed and the request's index, so request i of seed s is the same
// whatever the other requests were (FUZZ_SEED=s FUZZ_REQUESTS=i+1 sends it again).
import fc from 'fast-check';

export class Rng {
  private readonly g: fc.GeneratorValue;

  constructor(seed: number) {
    const [g] = fc.sample(fc.gen(), { seed, numRuns: 1 });
    this.g = g!;
  }

  /** A value of any fast-check arbitrary (biased towards its edge cases, as fast-check does). */
  of<T>(arbitrary: fc.Arbitrary<T>): T {
    return this.g(() => arbitrary);
  }

  /** An integer in [min, max], uniformly (choices and weights must not lean towards the edges). */
  int(min: number, max: number): number {
    return this.g(() => fc.noBias(fc.integer({ min, max })));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.int(0, 9_999) < p * 10_000;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)]!;
  }

  /** One of the weighted choices: [[weight, value], ...]. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let draw = this.int(0, total - 1);
    for (const [weight, value] of choices) {
      if (draw < weight) return value;
      draw -= weight;
    }
    return choices[choices.length - 1]![1];
  }

  /** Up to `max` distinct items, in random order. */
  some<T>(items: readonly T[], max: number): T[] {
    return this.of(fc.shuffledSubarray([...items], { minLength: 0, maxLength: Math.min(max, items.length) }));
  }
}

/** The seed of request `index` in a run seeded `seed` (a 32-bit mix, so neighbours differ). */
export function requestSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) | 0;
}
