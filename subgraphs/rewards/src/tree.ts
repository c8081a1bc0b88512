import type { EntityManager } from '@vibestream/platform';
import { hashUp, siblingRefs, zeroHashes, type Hash2, type MerklePath } from './domain/merkle.ts';

interface NodeRow {
  level: number;
  idx: number;
  value: string;
}

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

  async lockEpoch(tx: EntityManager, epoch: number): Promise<void> {
    await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [`rewards:tree:${epoch}`]);
  }

  async append(tx: EntityManager, epoch: number, leaf: bigint): Promise<{ leafIndex: number; root: bigint }> {
    await tx.execute('insert into trees (epoch, leaf_count, root) values (?, 0, ?) on conflict do nothing', [epoch, this.emptyRoot.toString()]);
    const [tree] = (await tx.execute('select leaf_count from trees where epoch = ? for update', [epoch])) as { leaf_count: number }[];
    const leafIndex = tree!.leaf_count;
    const siblings = await this.nodes(tx, epoch, siblingRefs(leafIndex, this.depth));
    const result = hashUp(leaf, leafIndex, this.depth, (ref) => siblings.get(`${ref.level}:${ref.index}`), this.hash, this.zeros);
    const values = result.nodes.map(() => '(?, ?, ?, ?)').join(', ');
    await tx.execute(
      `insert into tree_nodes (epoch, level, idx, value) values ${values} on conflict (epoch, level, idx) do update set value = excluded.value`,
      result.nodes.flatMap((n) => [epoch, n.level, n.index, n.value.toString()]),
    );
    const root = result.root.toString();
    await tx.execute('update trees set leaf_count = ?, root = ? where epoch = ?', [leafIndex + 1, root, epoch]);
    await tx.execute('insert into tree_roots (root, epoch, leaf_count) values (?, ?, ?) on conflict do nothing', [root, epoch, leafIndex + 1]);
    await tx.execute('delete from tree_roots where epoch = ? and leaf_count <= ?', [epoch, leafIndex + 1 - this.rootHistory]);
    return { leafIndex, root: result.root };
  }

  /** The path of a leaf against the epoch tree's current root; null when there is no such leaf. */
  async path(em: EntityManager, epoch: number, leafIndex: number): Promise<MerklePath | null> {
    const [tree] = (await em.execute('select leaf_count from trees where epoch = ?', [epoch])) as { leaf_count: number }[];
    if (!tree || !Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= tree.leaf_count) return null;
    const refs = [{ level: 0, index: leafIndex }, ...siblingRefs(leafIndex, this.depth)];
    const nodes = await this.nodes(em, epoch, refs);
    const leaf = nodes.get(`0:${leafIndex}`)!;
    const { root, pathElements, pathIndices } = hashUp(leaf, leafIndex, this.depth, (ref) => nodes.get(`${ref.level}:${ref.index}`), this.hash, this.zeros);
    return { root, pathElements, pathIndices };
  }

  private async nodes(em: EntityManager, epoch: number, refs: { level: number; index: number }[]): Promise<Map<string, bigint>> {
    const rows = (await em.execute(
      `select level, idx, value from tree_nodes where epoch = ? and (level, idx) in (${refs.map(() => '(?, ?)').join(', ')})`,
      [epoch, ...refs.flatMap((r) => [r.level, r.index])],
    )) as NodeRow[];
    return new Map(rows.map((r) => [`${r.level}:${r.idx}`, BigInt(r.value)]));
  }
}
