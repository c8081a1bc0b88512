// The part of snarkjs 0.7.6 the prover worker uses (the package ships no types).
declare module 'snarkjs' {
  export interface Logger {
    info(msg: string): void;
    warn(msg: string): void;
    error(msg: string): void;
    debug(msg: string): void;
  }
  export interface Groth16Proof {
    pi_a: string[];
    pi_b: string[][];
    pi_c: string[];
    protocol: string;
    curve: string;
  }
  export const groth16: {
    fullProve(
      input: Record<string, string | string[] | number[]>,
      wasmFile: Uint8Array,
      zkeyFile: Uint8Array,
      logger?: Logger,
    ): Promise<{ proof: Groth16Proof; publicSignals: string[] }>;
  };
}
