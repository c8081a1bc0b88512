import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Contract, ContractFactory, HDNodeWallet, JsonRpcProvider, type Signer } from 'ethers';
import type { CompiledContract } from './solidity.ts';
export * from './solidity.ts';

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

/** Deploys a compiled contract and waits until it is mined. */
export async function deployContract(signer: Signer, compiled: CompiledContract, args: unknown[] = []): Promise<Contract> {
  const factory = new ContractFactory(compiled.abi, compiled.bytecode, signer);
  const deployed = await factory.deploy(...args);
  await deployed.waitForDeployment();
  return new Contract(await deployed.getAddress(), compiled.abi, signer);
}
