import type { Session, Tx } from '@vibestream/platform';
import * as store from './store.ts';
import { hashUp, siblingRefs, zeroHashes, type Hash2, type MerklePath } from './domain/merkle.ts';

/**
 * The epoch trees in PostgreSQL. Appends must run under the epoch's lock (see `lockEpoch`);
 * each append reads one sibling per level in one statement and writes the new nodes in one.
 */
export class EpochTrees {
  readonly depth: number;
  private readonly hash: Hash2;
  private readonly zeros: bigint[];
  private readonly rootHistory: number;

  constructor(depth: number, hash: Hash2, rootHistory: number) {
    this.depth = depth;
    this.hash = hash;
    this.zeros = zeroHashes(depth, hash);
    this.rootHistory = rootHistory;
  }

  get emptyRoot(): bigint {
    return this.zeros[this.depth]!;
  }

  async lockEpoch(tx: Tx, epoch: number): Promise<void> {
    await store.lockTree(tx, epoch);
  }

  async append(tx: Tx, epoch: number, leaf: bigint): Promise<{ leafIndex: number; root: bigint }> {
    const leafIndex = await store.lockTreeSize(tx, epoch, this.emptyRoot.toString());
    const siblings = await store.treeNodes(tx, epoch, siblingRefs(leafIndex, this.depth));
    const result = hashUp(leaf, leafIndex, this.depth, (ref) => siblings.get(`${ref.level}:${ref.index}`), this.hash, this.zeros);
    await store.saveAppend(tx, { epoch, nodes: result.nodes, leafCount: leafIndex + 1, root: result.root.toString(), rootHistory: this.rootHistory });
    return { leafIndex, root: result.root };
  }

  /** The path of a leaf against the epoch tree's current root; null when there is no such leaf. */
  async path(db: Session, epoch: number, leafIndex: number): Promise<MerklePath | null> {
    const leafCount = await store.treeSize(db, epoch);
    if (leafCount === undefined || !Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= leafCount) return null;
    const refs = [{ level: 0, index: leafIndex }, ...siblingRefs(leafIndex, this.depth)];
    const nodes = await store.treeNodes(db, epoch, refs);
    const leaf = nodes.get(`0:${leafIndex}`);
    if (leaf === undefined) return null;
    const { root, pathElements, pathIndices } = hashUp(leaf, leafIndex, this.depth, (ref) => nodes.get(`${ref.level}:${ref.index}`), this.hash, this.zeros);
    return { root, pathElements, pathIndices };
  }
}
