// Builds the listen-reward circuit: `npm run circuits:build` (see circuits/README.md).
//
//   node circuits/build.ts               compile, Groth16 setup against the committed ptau,
//                                        one zkey contribution, export vkey + Solidity verifier,
//                                        copy the artifacts to circuits/artifacts/
//   node circuits/build.ts --ceremony    first make circuits/ptau/pot<power>_final.ptau
//                                        (phase 1: new -> contribute -> prepare phase2), then build.
//                                        Done once; the ptau is committed. Never run it in CI.
//   --force                              with --ceremony: overwrite an existing ptau
//
// This is a LOCAL DEVELOPMENT ceremony with a single, documented contributor per phase. It is
// not a production trusted setup.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { curves, powersOfTau, r1cs, zKey, type Logger } from 'snarkjs';
import { artifacts } from './index.ts';

const require = createRequire(import.meta.url);
const circuitsDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(circuitsDir, '..');
const buildDir = join(circuitsDir, 'build');
const ptauDir = join(circuitsDir, 'ptau');
const artifactsDir = join(circuitsDir, 'artifacts');
const CIRCUIT = 'listen_reward';

/** The documented contributions (also listed in circuits/README.md). snarkjs keeps 64 characters of a name. */
export const CONTRIBUTIONS = {
  ptau: {
    name: 'VibeStream local dev ceremony: phase 1 contribution #1',
    entropy: 'vibestream/listen-reward/ptau/dev-only/not-a-production-trusted-setup',
  },
  zkey: {
    name: 'VibeStream local dev ceremony: listen_reward phase 2 #1',
    entropy: 'vibestream/listen-reward/zkey/dev-only/not-a-production-trusted-setup',
  },
} as const;

const args = new Set(process.argv.slice(2));
const quiet = (): void => {};
const logger: Logger = {
  info: (m) => console.log(`  [snarkjs] ${m}`),
  warn: (m) => console.warn(`  [snarkjs] WARN ${m}`),
  error: (m) => console.error(`  [snarkjs] ERROR ${m}`),
  debug: quiet,
  log: quiet,
};

const rel = (p: string): string => relative(repoRoot, p);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const size = (p: string): string => `${(statSync(p).size / 1024).toFixed(1)} KiB`;

async function timed<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  console.log(`> ${label}`);
  const result = await fn();
  console.log(`  ${label}: ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return result;
}

function compile(): string {
  mkdirSync(buildDir, { recursive: true });
  const circom = require.resolve('circom2/cli.js');
  execFileSync(
    process.execPath,
    [circom, rel(join(circuitsDir, `${CIRCUIT}.circom`)), '--r1cs', '--wasm', '--sym', '--O2', '-l', 'node_modules', '-o', rel(buildDir)],
    { cwd: repoRoot, stdio: 'inherit' },
  );
  return join(buildDir, `${CIRCUIT}.r1cs`);
}

/** Smallest power of two that fits the circuit: constraints + public signals + 1 <= 2^power. */
function requiredPower(info: { nConstraints: number; nPubInputs: number; nOutputs: number }): number {
  const needed = info.nConstraints + info.nPubInputs + info.nOutputs + 1;
  let power = 1;
  while (2 ** power < needed) power++;
  return Math.max(power, 8);
}

const ptauPath = (power: number): string => join(ptauDir, `pot${power}_final.ptau`);

/** The smallest committed prepared ptau that is large enough. */
function findPtau(power: number): string | undefined {
  if (!existsSync(ptauDir)) return undefined;
  const powers = readdirSync(ptauDir)
    .map((f) => /^pot(\d+)_final\.ptau$/.exec(f)?.[1])
    .filter((p): p is string => p !== undefined)
    .map(Number)
    .filter((p) => p >= power)
    .sort((a, b) => a - b);
  return powers[0] === undefined ? undefined : ptauPath(powers[0]);
}

async function ceremony(power: number): Promise<string> {
  const out = ptauPath(power);
  if (existsSync(out) && !args.has('--force')) {
    throw new Error(`${rel(out)} exists; it is made once and committed (pass --force to replace it)`);
  }
  mkdirSync(ptauDir, { recursive: true });
  const p0 = join(buildDir, `pot${power}_0000.ptau`);
  const p1 = join(buildDir, `pot${power}_0001.ptau`);
  const tmp = join(buildDir, `pot${power}_final.ptau`);
  const curve = await curves.getCurveFromName('bn128');
  await timed(`powersoftau new bn128 ${power}`, () => powersOfTau.newAccumulator(curve, power, p0, logger));
  const hash = await timed('powersoftau contribute', () => powersOfTau.contribute(p0, p1, CONTRIBUTIONS.ptau.name, CONTRIBUTIONS.ptau.entropy, logger));
  console.log(`  phase 1 contribution hash: ${hex(hash)}`);
  await timed('powersoftau prepare phase2', () => powersOfTau.preparePhase2(p1, tmp, logger));
  renameSync(tmp, out);
  rmSync(p0);
  rmSync(p1);
  console.log(`  wrote ${rel(out)} (${size(out)})`);
  return out;
}

async function main(): Promise<void> {
  const r1csFile = await timed('circom2 --O2 compile', compile);
  const info = await r1cs.info(r1csFile);
  const power = requiredPower(info);
  console.log(
    `  constraints ${info.nConstraints}, public outputs ${info.nOutputs}, public inputs ${info.nPubInputs}, ` +
      `private inputs ${info.nPrvInputs}, wires ${info.nVars} -> needs 2^${power} ` +
      `(${info.nConstraints + info.nOutputs + info.nPubInputs + 1} <= ${2 ** power})`,
  );

  const ptau = args.has('--ceremony') ? await ceremony(power) : findPtau(power);
  if (!ptau) {
    throw new Error(`no circuits/ptau/pot<p>_final.ptau with p >= ${power}; run \`node circuits/build.ts --ceremony\` once and commit it`);
  }
  console.log(`  using ${rel(ptau)}`);

  const zkey0 = join(buildDir, `${CIRCUIT}_0000.zkey`);
  const zkeyFinal = join(buildDir, `${CIRCUIT}_final.zkey`);
  const csHash = await timed('groth16 setup', () => zKey.newZKey(r1csFile, ptau, zkey0, logger));
  if (csHash === -1) throw new Error('groth16 setup failed (see the snarkjs errors above)');
  const contribution = await timed('zkey contribute', () => zKey.contribute(zkey0, zkeyFinal, CONTRIBUTIONS.zkey.name, CONTRIBUTIONS.zkey.entropy, logger));
  console.log(`  circuit hash: ${hex(csHash)}`);
  console.log(`  phase 2 contribution hash: ${hex(contribution)}`);

  const vkey = await timed('export verification key', () => zKey.exportVerificationKey(zkeyFinal));
  const vkeyFile = join(buildDir, 'verification_key.json');
  writeFileSync(vkeyFile, `${JSON.stringify(vkey, null, 1)}\n`);

  const templates = {
    groth16: readFileSync(join(dirname(require.resolve('snarkjs')), '..', 'templates', 'verifier_groth16.sol.ejs'), 'utf8'),
  };
  const solFile = join(buildDir, 'Verifier.sol');
  writeFileSync(solFile, await timed('export solidity verifier', () => zKey.exportSolidityVerifier(zkeyFinal, templates)));

  mkdirSync(artifactsDir, { recursive: true });
  copyFileSync(join(buildDir, `${CIRCUIT}_js`, `${CIRCUIT}.wasm`), artifacts.wasm);
  copyFileSync(zkeyFinal, artifacts.zkey);
  copyFileSync(vkeyFile, artifacts.verificationKey);
  copyFileSync(solFile, artifacts.verifierSol);
  const sha256 = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
  const record = {
    circuit: `circuits/${CIRCUIT}.circom`,
    compiler: 'circom2 0.2.23 (circom 2.2.3), --O2',
    constraints: info.nConstraints,
    publicSignals: ['nullifierHash', 'root', 'recipient'],
    ptau: { file: rel(ptau), sha256: sha256(ptau) },
    circuitHash: hex(csHash),
    contribution: { name: CONTRIBUTIONS.zkey.name, entropy: CONTRIBUTIONS.zkey.entropy, hash: hex(contribution) },
    sha256: Object.fromEntries(Object.values(artifacts).map((f) => [rel(f).replace('circuits/artifacts/', ''), sha256(f)])),
    note: 'Local development ceremony, not a production trusted setup.',
  };
  writeFileSync(join(artifactsDir, 'ceremony.json'), `${JSON.stringify(record, null, 2)}\n`);
  for (const file of [...Object.values(artifacts), join(artifactsDir, 'ceremony.json')]) console.log(`  ${rel(file)}: ${size(file)}`);
}

try {
  await main();
} finally {
  await (globalThis as { curve_bn128?: { terminate(): Promise<void> } }).curve_bn128?.terminate();
}
