/**
 * An incremental Merkle tree of fixed depth over a node store: appending a leaf and reading a
 * path each touch one node per level, O(depth). Empty subtrees hash to the zero hashes.
 */
export type Hash2 = (left: bigint, right: bigint) => bigint;

export function zeroHashes(depth: number, hash: Hash2): bigint[] {
  const zeros = [0n];
  for (let level = 1; level <= depth; level++) zeros.push(hash(zeros[level - 1]!, zeros[level - 1]!));
  return zeros;
}

export interface NodeRef {
  level: number;
  index: number;
}

/** The siblings needed to hash leaf `leafIndex` up to the root. */
export function siblingRefs(leafIndex: number, depth: number): NodeRef[] {
  const refs: NodeRef[] = [];
  let index = leafIndex;
  for (let level = 0; level < depth; level++) {
    refs.push({ level, index: index ^ 1 });
    index >>= 1;
  }
  return refs;
}

export interface MerklePath {
  root: bigint;
  pathElements: bigint[];
  /** 0: the running node is the left child at that level. */
  pathIndices: number[];
}

/**
 * Hashes `leaf` at `leafIndex` up to the root with the given sibling values (undefined =
 * empty subtree), returning the path and every node on the way (level 0 = the leaf itself).
 */
export function hashUp(
  leaf: bigint,
  leafIndex: number,
  depth: number,
  sibling: (ref: NodeRef) => bigint | undefined,
  hash: Hash2,
  zeros: bigint[],
): MerklePath & { nodes: (NodeRef & { value: bigint })[] } {
  if (leafIndex < 0 || leafIndex >= 2 ** depth) throw new RangeError(`leaf index ${leafIndex} outside a depth-${depth} tree`);
  const nodes: (NodeRef & { value: bigint })[] = [{ level: 0, index: leafIndex, value: leaf }];
  const pathElements: bigint[] = [];
  const pathIndices: number[] = [];
  let value = leaf;
  let index = leafIndex;
  for (let level = 0; level < depth; level++) {
    const isRight = index & 1;
    const other = sibling({ level, index: index ^ 1 }) ?? zeros[level]!;
    pathElements.push(other);
    pathIndices.push(isRight);
    value = isRight ? hash(other, value) : hash(value, other);
    index >>= 1;
    nodes.push({ level: level + 1, index, value });
  }
  return { root: value, pathElements, pathIndices, nodes };
}
