import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Contract, ContractFactory, HDNodeWallet, JsonRpcProvider, type InterfaceAbi, type Signer } from 'ethers';

/**
 * An in-process EVM (Hardhat 3's EDR simulated network) exposed over HTTP JSON-RPC, so code under
 * test talks to it exactly as it would talk to a real node: through an RPC URL.
 *
 * Hardhat is only used as a library here: its runtime environment is created from an inline config
 * (no hardhat.config file, no Solidity compiler, no downloads). Contracts are compiled with solc-js,
 * see {@link compileSolidity}.
 */
export interface TestChain {
  /** http://127.0.0.1:<port> */
  url: string;
  chainId: bigint;
  /** An ethers provider on {@link url}. Destroyed by {@link close}. */
  provider: JsonRpcProvider;
  /** Private keys (0x-prefixed) of Hardhat's default funded accounts (10,000 ETH each). */
  accounts: string[];
  /** Sends one JSON-RPC request straight to the in-process provider (e.g. `evm_mine`, `evm_setAutomine`). */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface TestChainOptions {
  /** Defaults to Hardhat's default (31337). */
  chainId?: number;
  /** Defaults to Hardhat's latest stable L1 hardfork. */
  hardfork?: string;
  /** Mine a block for every transaction (Hardhat's default: true). */
  automine?: boolean;
  /** Number of funded accounts; defaults to 20. */
  accountCount?: number;
}

interface Eip1193 {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
}

interface JsonRpcRequest {
  jsonrpc?: string;
  id?: string | number | null;
  method?: unknown;
  params?: unknown;
}

/** Starts an in-process EVM and serves it on 127.0.0.1 on a free port. */
export async function startTestChain(options: TestChainOptions = {}): Promise<TestChain> {
  // Loaded lazily: importing the testing package must not pull in Hardhat.
  const { createHardhatRuntimeEnvironment } = await import('hardhat/hre');
  const hre = await createHardhatRuntimeEnvironment(
    {
      networks: {
        default: {
          type: 'edr-simulated',
          ...(options.chainId !== undefined ? { chainId: options.chainId } : {}),
          ...(options.hardfork !== undefined ? { hardfork: options.hardfork } : {}),
          ...(options.accountCount !== undefined ? { accounts: { count: options.accountCount } } : {}),
          mining: { auto: options.automine ?? true },
        },
      },
    },
    {},
    // Project root: only used to resolve plugins and paths; nothing is written there.
    dirname(fileURLToPath(import.meta.url)),
  );
  const connection = await hre.network.connect();
  const edr = connection.provider as unknown as Eip1193;

  const accounts = await defaultAccountKeys(connection.networkConfig.accounts);

  const server = createServer((req, res) => {
    handleHttp(edr, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const chainId = BigInt((await edr.request({ method: 'eth_chainId' })) as string);
  // cacheTimeout -1: ethers otherwise shares identical calls for 250 ms, so e.g. the pending nonce read
  // right after a transaction was mined can be stale.
  const provider = new JsonRpcProvider(url, Number(chainId), { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });

  let closed = false;
  return {
    url,
    chainId,
    provider,
    accounts,
    rpc: (method, params = []) => edr.request({ method, params }),
    async close() {
      if (closed) return;
      closed = true;
      provider.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await connection.close();
    },
  };
}

async function defaultAccountKeys(accounts: unknown): Promise<string[]> {
  // Hardhat resolves `accounts` to an HD config whose mnemonic/passphrase are configuration variables.
  const hd = accounts as {
    mnemonic?: { get(): Promise<string> };
    passphrase?: { get(): Promise<string> };
    path?: string;
    initialIndex?: number;
    count?: number;
  };
  if (hd.mnemonic === undefined || typeof hd.mnemonic.get !== 'function') {
    throw new Error('startTestChain: expected Hardhat to resolve HD accounts for the simulated network');
  }
  const mnemonic = await hd.mnemonic.get();
  const passphrase = (await hd.passphrase?.get()) ?? '';
  const path = hd.path ?? "m/44'/60'/0'/0";
  const first = hd.initialIndex ?? 0;
  const keys: string[] = [];
  for (let i = first; i < first + (hd.count ?? 20); i++) {
    keys.push(HDNodeWallet.fromPhrase(mnemonic, passphrase, `${path}/${i}`).privateKey);
  }
  return keys;
}

async function handleHttp(edr: Eip1193, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    send(res, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    return;
  }
  if (Array.isArray(body)) {
    if (body.length === 0) {
      send(res, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Empty batch' } });
      return;
    }
    // Sequentially, in order: a batch of sends from one account must keep its nonce order.
    const responses: unknown[] = [];
    for (const item of body) responses.push(await handleOne(edr, item as JsonRpcRequest));
    send(res, responses);
    return;
  }
  send(res, await handleOne(edr, body as JsonRpcRequest));
}

async function handleOne(edr: Eip1193, request: JsonRpcRequest) {
  const id = request?.id ?? null;
  if (request === null || typeof request !== 'object' || typeof request.method !== 'string') {
    return { jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid request' } };
  }
  const params = request.params === undefined ? [] : request.params;
  try {
    const result = await edr.request({ method: request.method, params: params as unknown[] });
    return { jsonrpc: '2.0', id, result: result === undefined ? null : result };
  } catch (error) {
    return { jsonrpc: '2.0', id, error: toJsonRpcError(error) };
  }
}

function toJsonRpcError(error: unknown): { code: number; message: string; data?: unknown } {
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  const code = typeof e?.code === 'number' ? e.code : -32603;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return e?.data === undefined ? { code, message } : { code, message, data: jsonSafe(e.data) };
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
}

function send(res: ServerResponse, payload: unknown): void {
  const text = JSON.stringify(payload, (_key, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// Solidity

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
export async function compileSolidity(
  sources: Record<string, string>,
  contractName: string,
  options: CompileOptions = {},
): Promise<CompiledContract> {
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

  const [wantedFile, wantedName] = contractName.includes(':')
    ? (contractName.split(':') as [string, string])
    : [undefined, contractName];
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

/** Deploys a compiled contract and waits until it is mined. */
export async function deployContract(signer: Signer, compiled: CompiledContract, args: unknown[] = []): Promise<Contract> {
  const factory = new ContractFactory(compiled.abi, compiled.bytecode, signer);
  const deployed = await factory.deploy(...args);
  await deployed.waitForDeployment();
  return new Contract(await deployed.getAddress(), compiled.abi, signer);
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
