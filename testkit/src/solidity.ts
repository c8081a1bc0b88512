// Solidity compiled with solc-js, for the test chain's contracts and campaigns' committed contract artifact
// (`@vibestream/testkit/solidity` loads only this, not the stack or Hardhat).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { InterfaceAbi } from 'ethers';

export interface CompiledContract {
  abi: InterfaceAbi;
  /** 0x-prefixed creation bytecode. */
  bytecode: string;
}

export interface CompileOptions {
  /** Defaults to solc's default EVM version. */
  evmVersion?: string;
  /** Optimizer runs; the optimizer is on unless `false`. */
  optimizer?: number | false;
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string }[];
  contracts?: Record<string, Record<string, { abi: InterfaceAbi; evm: { bytecode: { object: string } } }>>;
}

const localRequire = createRequire(import.meta.url);

/**
 * Compiles Solidity sources with solc-js (the pinned `solc` npm package: a wasm/asm.js compiler, never
 * downloaded). Imports that are not among `sources` (e.g. `@openzeppelin/contracts/token/ERC20/ERC20.sol`)
 * are read from node_modules.
 *
 * @param sources file name → source text, e.g. `{ 'RewardToken.sol': '...' }`
 * @param contractName the contract to return; `File.sol:Name` to disambiguate
 */
export async function compileSolidity(sources: Record<string, string>, contractName: string, options: CompileOptions = {}): Promise<CompiledContract> {
  const solc = localRequire('solc') as { compile(input: string, callbacks?: { import(path: string): { contents: string } | { error: string } }): string };

  // solc-js's import callback is synchronous, so node_modules imports are preloaded by walking the import graph.
  const resolved = new Map<string, string>();
  const queue = Object.entries(sources);
  const known = new Set(Object.keys(sources));
  while (queue.length > 0) {
    const [file, text] = queue.shift()!;
    for (const imported of importsOf(text)) {
      const path = resolveImportPath(file, imported);
      if (known.has(path)) continue;
      known.add(path);
      const contents = await readFile(resolvePackageFile(path), 'utf8');
      resolved.set(path, contents);
      queue.push([path, contents]);
    }
  }

  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([name, content]) => [name, { content }])),
    settings: {
      ...(options.evmVersion !== undefined ? { evmVersion: options.evmVersion } : {}),
      optimizer: options.optimizer === false ? { enabled: false } : { enabled: true, runs: options.optimizer ?? 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import(path: string) {
        const contents = resolved.get(path);
        return contents !== undefined ? { contents } : { error: `File not found: ${path}` };
      },
    }),
  ) as SolcOutput;

  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length > 0) throw new Error(`solc: ${errors.map((e) => e.formattedMessage).join('\n')}`);

  const [wantedFile, wantedName] = contractName.includes(':') ? (contractName.split(':') as [string, string]) : [undefined, contractName];
  const matches = Object.entries(output.contracts ?? {}).flatMap(([file, contracts]) =>
    Object.entries(contracts)
      .filter(([name]) => name === wantedName && (wantedFile === undefined || file === wantedFile))
      .map(([, contract]) => contract),
  );
  if (matches.length !== 1) {
    throw new Error(`compileSolidity: ${matches.length === 0 ? 'no' : 'more than one'} contract named ${contractName}`);
  }
  const contract = matches[0]!;
  if (contract.evm.bytecode.object === '') throw new Error(`compileSolidity: ${contractName} is abstract or an interface`);
  return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

function importsOf(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  const paths: string[] = [];
  for (const match of withoutComments.matchAll(/\bimport\s+(?:[^;]*?\bfrom\s+)?["']([^"']+)["']/g)) {
    paths.push(match[1]!);
  }
  return paths;
}

/** solc's own rule: `./` and `../` are relative to the importing file's directory, anything else is a source unit name. */
function resolveImportPath(importer: string, imported: string): string {
  if (!imported.startsWith('./') && !imported.startsWith('../')) return imported;
  const parts = importer.split('/').slice(0, -1);
  for (const segment of imported.split('/')) {
    if (segment === '.') continue;
    if (segment === '..') parts.pop();
    else parts.push(segment);
  }
  return parts.join('/');
}

function resolvePackageFile(path: string): string {
  const segments = path.split('/');
  const packageName = path.startsWith('@') ? segments.slice(0, 2).join('/') : segments[0]!;
  const rest = segments.slice(packageName.split('/').length).join('/');
  for (const base of [localRequire, createRequire(join(process.cwd(), 'package.json'))]) {
    try {
      return join(dirname(base.resolve(`${packageName}/package.json`)), rest);
    } catch {
      // try the next base
    }
  }
  throw new Error(`compileSolidity: cannot resolve import ${path} (is ${packageName} installed?)`);
}
