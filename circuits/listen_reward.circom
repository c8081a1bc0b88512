pragma circom 2.1.5;

// VibeStream listen reward claim (Groth16 over BN254).
//
// Proves, without revealing which leaf, that the prover knows (nullifier, secret) such
// that Poseidon(nullifier, secret) is a leaf of the Merkle tree with the public `root`,
// and publishes nullifierHash = Poseidon(nullifier) so each voucher is claimed once.
// `recipient` (an Ethereum address as a field element) is bound to the proof, so a
// proof cannot be replayed to pay a different wallet.
//
// snarkjs publicSignals order: [nullifierHash, root, recipient]
// (outputs first, then the public inputs in declaration order).
// See circuits/README.md and the header of shared/contract/rewards.graphql.

include "circomlib/circuits/poseidon.circom";

// Orders the running node and its sibling as (left, right) for the next hash.
// s = 0: the node is the left child  -> out = (in[0], in[1])
// s = 1: the node is the right child -> out = (in[1], in[0])
// s is constrained to be boolean; one multiplication does the swap.
template DualMux() {
    signal input in[2];
    signal input s;
    signal output out[2];

    s * (1 - s) === 0;

    signal swap <== (in[1] - in[0]) * s;
    out[0] <== in[0] + swap;
    out[1] <== in[1] - swap;
}

// Hashes `leaf` up a binary Poseidon Merkle tree of the given depth.
// pathElements[i] is the sibling at level i (level 0 = leaves), pathIndices[i] is 0 when
// the running node is the left child at that level and 1 when it is the right child.
template MerkleTreeRoot(depth) {
    signal input leaf;
    signal input pathElements[depth];
    signal input pathIndices[depth];
    signal output root;

    component selectors[depth];
    component hashers[depth];
    signal nodes[depth + 1];
    nodes[0] <== leaf;

    for (var i = 0; i < depth; i++) {
        selectors[i] = DualMux();
        selectors[i].in[0] <== nodes[i];
        selectors[i].in[1] <== pathElements[i];
        selectors[i].s <== pathIndices[i];

        hashers[i] = Poseidon(2);
        hashers[i].inputs[0] <== selectors[i].out[0];
        hashers[i].inputs[1] <== selectors[i].out[1];
        nodes[i + 1] <== hashers[i].out;
    }

    root <== nodes[depth];
}

template ListenReward(depth) {
    // private
    signal input nullifier;
    signal input secret;
    signal input pathElements[depth];
    signal input pathIndices[depth];
    // public (declared in this order: root, then recipient)
    signal input root;
    signal input recipient;
    // public output
    signal output nullifierHash;

    component nullifierHasher = Poseidon(1);
    nullifierHasher.inputs[0] <== nullifier;
    nullifierHash <== nullifierHasher.out;

    component leafHasher = Poseidon(2);
    leafHasher.inputs[0] <== nullifier;
    leafHasher.inputs[1] <== secret;

    component tree = MerkleTreeRoot(depth);
    tree.leaf <== leafHasher.out;
    for (var i = 0; i < depth; i++) {
        tree.pathElements[i] <== pathElements[i];
        tree.pathIndices[i] <== pathIndices[i];
    }
    root === tree.root;

    // Bind recipient to the proof with a non-linear constraint the optimiser keeps.
    signal recipientSquare <== recipient * recipient;
}

component main {public [root, recipient]} = ListenReward(20);
