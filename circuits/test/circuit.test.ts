import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { groth16, zKey, type CircuitSignals, type Groth16Proof, type PublicSignals, type VerificationKey } from 'snarkjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEPTH, SNARK_FIELD, artifacts, poseidon1, poseidon2, zeroHashes } from '../index.ts';

/** A sparse Poseidon Merkle tree of depth DEPTH whose empty leaves are 0. */
class SparseTree {
  private readonly levels: Map<number, bigint>[] = Array.from({ length: DEPTH + 1 }, () => new Map());
  private readonly zeros = zeroHashes(DEPTH);

  insert(index: number, leaf: bigint): void {
    let node = leaf;
    let idx = index;
    for (let level = 0; level <= DEPTH; level++) {
      this.levels[level]!.set(idx, node);
      if (level === DEPTH) break;
      const sibling = this.node(level, idx ^ 1);
      node = idx % 2 === 0 ? poseidon2(node, sibling) : poseidon2(sibling, node);
      idx = Math.floor(idx / 2);
    }
  }

  node(level: number, index: number): bigint {
    return this.levels[level]!.get(index) ?? this.zeros[level]!;
  }

  get root(): bigint {
    return this.node(DEPTH, 0);
  }

  path(index: number): { pathElements: bigint[]; pathIndices: number[] } {
    const pathElements: bigint[] = [];
    const pathIndices: number[] = [];
    let idx = index;
    for (let level = 0; level < DEPTH; level++) {
      pathElements.push(this.node(level, idx ^ 1));
      pathIndices.push(idx % 2);
      idx = Math.floor(idx / 2);
    }
    return { pathElements, pathIndices };
  }
}

const mod = (a: bigint): bigint => ((a % SNARK_FIELD) + SNARK_FIELD) % SNARK_FIELD;
function inverse(a: bigint): bigint {
  // Fermat: a^(p-2) mod p
  let result = 1n;
  let base = mod(a);
  for (let e = SNARK_FIELD - 2n; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * base) % SNARK_FIELD;
    base = (base * base) % SNARK_FIELD;
  }
  return result;
}

const RECIPIENT = BigInt('0x71C7656EC7ab88b098defB751B7401B5f6d8976F');

interface Voucher {
  nullifier: bigint;
  secret: bigint;
  index: number;
}

const voucher = (seed: number, index: number): Voucher => ({
  nullifier: poseidon1(BigInt(1000 + seed)),
  secret: poseidon1(BigInt(2000 + seed)),
  index,
});

// A tree with a few neighbours, the claimed leaf at an index whose path mixes left and
// right, and one at the very last index (every pathIndex = 1).
const claimed = voucher(1, 0b1011_0110_1);
const last = voucher(2, 2 ** DEPTH - 1);
const tree = new SparseTree();
for (let i = 0; i < 8; i++) tree.insert(i, poseidon2(BigInt(i + 1), BigInt(i + 7)));
for (const v of [claimed, last]) tree.insert(v.index, poseidon2(v.nullifier, v.secret));

function inputFor(v: Voucher, overrides: Partial<Record<string, unknown>> = {}): CircuitSignals {
  const { pathElements, pathIndices } = tree.path(v.index);
  return {
    nullifier: v.nullifier,
    secret: v.secret,
    pathElements,
    pathIndices,
    root: tree.root,
    recipient: RECIPIENT,
    ...overrides,
  } as CircuitSignals;
}

/** The witness generator's error for an input that must not have a witness. */
async function witnessError(input: CircuitSignals): Promise<string> {
  try {
    await groth16.fullProve(input, artifacts.wasm, artifacts.zkey);
  } catch (err) {
    return String(err instanceof Error ? err.message : err);
  }
  throw new Error('expected witness generation to fail');
}

let vkey: VerificationKey;
let proof: Groth16Proof;
let publicSignals: PublicSignals;

beforeAll(async () => {
  vkey = JSON.parse(readFileSync(artifacts.verificationKey, 'utf8')) as VerificationKey;
  ({ proof, publicSignals } = await groth16.fullProve(inputFor(claimed), artifacts.wasm, artifacts.zkey));
});

afterAll(async () => {
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
});

describe('listen_reward circuit artifacts', () => {
  it('the committed verification key is the one exported from the committed zkey', async () => {
    const exported = await zKey.exportVerificationKey(artifacts.zkey);
    expect(vkey).toEqual(JSON.parse(JSON.stringify(exported)));
    expect(vkey.protocol).toBe('groth16');
    expect(vkey.curve).toBe('bn128');
    expect(vkey.nPublic).toBe(3);
  });

  it('artifacts/ceremony.json describes the committed artifacts', () => {
    const record = JSON.parse(readFileSync(new URL('../artifacts/ceremony.json', import.meta.url), 'utf8')) as {
      constraints: number;
      publicSignals: string[];
      sha256: Record<string, string>;
    };
    expect(record.publicSignals).toEqual(['nullifierHash', 'root', 'recipient']);
    for (const file of Object.values(artifacts)) {
      expect(record.sha256[basename(file)]).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    }
  });

  it('the Solidity verifier takes the three public signals', () => {
    const sol = readFileSync(artifacts.verifierSol, 'utf8');
    expect(sol).toContain('contract Groth16Verifier');
    expect(sol).toMatch(/uint\[3\] calldata _pubSignals/);
  });

  it('the zero subtree hashes chain Poseidon(z, z) from the empty leaf 0', () => {
    const zeros = zeroHashes(DEPTH);
    expect(zeros).toHaveLength(DEPTH + 1);
    expect(zeros[0]).toBe(0n);
    // circomlib's Poseidon(2) of (0, 0)
    expect(zeros[1]).toBe(14744269619966411208579211824598458697587494354926760081771325075741142829156n);
    expect(new SparseTree().root).toBe(zeros[DEPTH]);
  });
});

describe('listen_reward proofs', () => {
  it('a membership proof verifies with publicSignals [nullifierHash, root, recipient]', async () => {
    expect(publicSignals).toEqual([poseidon1(claimed.nullifier).toString(), tree.root.toString(), RECIPIENT.toString()]);
    expect(await groth16.verify(vkey, publicSignals, proof)).toBe(true);
  });

  it('proves the leaf at the last index (every node a right child)', async () => {
    expect(tree.path(last.index).pathIndices.every((b) => b === 1)).toBe(true);
    const res = await groth16.fullProve(inputFor(last), artifacts.wasm, artifacts.zkey);
    expect(res.publicSignals).toEqual([poseidon1(last.nullifier).toString(), tree.root.toString(), RECIPIENT.toString()]);
    expect(await groth16.verify(vkey, res.publicSignals, res.proof)).toBe(true);
  });

  it.each([
    ['nullifierHash', 0],
    ['root', 1],
    ['recipient', 2],
  ])('changing the public %s makes verification fail', async (_name, i) => {
    const tampered = [...publicSignals];
    tampered[i] = (BigInt(tampered[i]!) + 1n).toString();
    expect(await groth16.verify(vkey, tampered, proof)).toBe(false);
  });

  it('a proof for one recipient does not verify for another address', async () => {
    const other = BigInt('0x000000000000000000000000000000000000dEaD').toString();
    expect(await groth16.verify(vkey, [publicSignals[0]!, publicSignals[1]!, other], proof)).toBe(false);
  });

  it('no witness for a wrong secret (the path does not reach the root)', async () => {
    const message = await witnessError(inputFor(claimed, { secret: claimed.secret + 1n }));
    expect(message).toMatch(/Assert Failed[\s\S]*ListenReward/);
    expect(message).not.toMatch(/DualMux/);
  });

  it('no witness for a root the leaf is not under', async () => {
    const message = await witnessError(inputFor(claimed, { root: zeroHashes(DEPTH)[DEPTH]! }));
    expect(message).toMatch(/Assert Failed[\s\S]*ListenReward/);
    expect(message).not.toMatch(/DualMux/);
  });

  it('no witness for a non-boolean pathIndex', async () => {
    const { pathIndices } = tree.path(claimed.index);
    pathIndices[3] = 2;
    expect(await witnessError(inputFor(claimed, { pathIndices }))).toMatch(/Assert Failed[\s\S]*DualMux/);
  });

  it('the boolean constraint is what stops a forged path (a non-boolean pathIndex would reach the root)', async () => {
    // Without pathIndices[i] in {0, 1} the selector outputs (node + (sib - node)s, sib - (sib - node)s),
    // any pair summing to node + sib: a leaf that is not in the tree can be steered onto the real
    // pair (leaf 0, leaf 1) at level 0, and the honest path of leaf 0 does the rest.
    const fake = voucher(99, 0);
    const node = poseidon2(fake.nullifier, fake.secret);
    const [left, right] = [tree.node(0, 0), tree.node(0, 1)];
    const sibling = mod(left + right - node);
    const s = mod((left - node) * inverse(sibling - node));
    expect(mod(node + (sibling - node) * s)).toBe(left);
    expect(mod(sibling - (sibling - node) * s)).toBe(right);

    const honest = tree.path(0);
    const pathElements = [sibling, ...honest.pathElements.slice(1)];
    const pathIndices = [s, ...honest.pathIndices.slice(1).map(BigInt)];
    let running = poseidon2(left, right);
    for (let level = 1; level < DEPTH; level++) {
      running = pathIndices[level] === 0n ? poseidon2(running, pathElements[level]!) : poseidon2(pathElements[level]!, running);
    }
    expect(running).toBe(tree.root);

    expect(await witnessError(inputFor(fake, { pathElements, pathIndices }))).toMatch(/Assert Failed[\s\S]*DualMux/);
  });
});
