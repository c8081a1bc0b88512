// Web Push settings: the VAPID key pair (RFC 8292) that signs every push request, and its
// contact. Spread into notifications' config shape (config.ts); `resolveVapidKeys` gives the keys
// a running subgraph uses: the configured ones, or in development one generated once and kept.
import { createECDH } from 'node:crypto';
import { ConfigError, ensureDevSecret, env, z, type Logger } from '@vibestream/platform';

const optional = (v: unknown) => (v === '' ? undefined : v);
const base64url = (bytes: number, what: string) =>
  z.preprocess(
    optional,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, `must be base64url without padding (${what})`)
      .refine((v) => Buffer.from(v, 'base64url').length === bytes, `must be ${bytes} bytes, base64url (${what})`)
      .optional(),
  );

export const webPushConfigShape = {
  VAPID_PUBLIC_KEY: base64url(65, 'an uncompressed P-256 point').describe(
    "The VAPID public key (RFC 8292), base64url: the applicationServerKey browsers subscribe with (served as webPushPublicKey). Must be VAPID_PRIVATE_KEY's public half. Required in production; otherwise derived from a private key generated once into VIBESTREAM_DATA_DIR/keys. `npx web-push generate-vapid-keys` makes a pair.",
  ),
  VAPID_PRIVATE_KEY: base64url(32, 'a P-256 private key').describe(
    'The VAPID private key (32 bytes, base64url) that signs every Web Push request. Required in production; otherwise generated once into VIBESTREAM_DATA_DIR/keys. Changing it orphans every browser subscription made with the old public key.',
  ),
  VAPID_SUBJECT: z
    .preprocess(
      optional,
      z
        .string()
        .regex(/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/, 'must be a mailto: address or an https: URL')
        .optional(),
    )
    .describe(
      'Who push services contact about this sender (the VAPID JWT `sub`): a mailto: address or an https: URL. Required in production; default mailto:push@vibestream.invalid.',
    ),
  WEB_PUSH_TIMEOUT_MS: env
    .intRange(10_000, 100, 60_000)
    .describe('How long a push request may take before it counts as a failed attempt (retried), in milliseconds.'),
};

export interface WebPushSettings {
  NODE_ENV: 'development' | 'production' | 'test';
  VAPID_PUBLIC_KEY?: string | undefined;
  VAPID_PRIVATE_KEY?: string | undefined;
  VAPID_SUBJECT?: string | undefined;
}

/** The problems of the Web Push settings (each `VARIABLE: message`), for the config loader to throw. */
export function webPushConfigProblems(config: WebPushSettings): string[] {
  const problems: string[] = [];
  if (config.NODE_ENV === 'production') {
    for (const name of ['VAPID_PUBLIC_KEY', 'VAPID_PRIVATE_KEY', 'VAPID_SUBJECT'] as const) {
      if (!config[name]) problems.push(`${name}: is required in production`);
    }
  }
  if (config.VAPID_PUBLIC_KEY && !config.VAPID_PRIVATE_KEY) problems.push('VAPID_PRIVATE_KEY: is required with VAPID_PUBLIC_KEY');
  if (config.VAPID_PRIVATE_KEY) {
    const derived = publicKeyOf(config.VAPID_PRIVATE_KEY);
    if (derived === null) problems.push('VAPID_PRIVATE_KEY: is not a P-256 private key');
    else if (config.VAPID_PUBLIC_KEY && derived !== config.VAPID_PUBLIC_KEY) problems.push("VAPID_PUBLIC_KEY: is not VAPID_PRIVATE_KEY's public key");
  }
  return problems;
}

/** The uncompressed public point of a P-256 private key (both base64url); null when it is not one. */
export function publicKeyOf(privateKey: string): string | null {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
    return ecdh.getPublicKey().toString('base64url');
  } catch {
    return null;
  }
}

export interface VapidKeys {
  publicKey: string;
  privateKey: string;
  subject: string;
}

/** Name of the development VAPID private key under `VIBESTREAM_DATA_DIR/keys/` (`ensureDevSecret`). */
export const VAPID_DEV_SECRET = 'vapid-private-key';
const DEV_SUBJECT = 'mailto:push@vibestream.invalid';

/**
 * The VAPID keys to sign with: the configured pair, or (outside production) a private key generated
 * once and kept, as 32 random bytes are a P-256 private key (below the group order but for a chance
 * of 2^-32), its public half derived.
 */
export async function resolveVapidKeys(config: WebPushSettings, processEnv: NodeJS.ProcessEnv, log: Logger): Promise<VapidKeys> {
  const subject = config.VAPID_SUBJECT ?? DEV_SUBJECT;
  if (config.VAPID_PRIVATE_KEY) {
    const publicKey = publicKeyOf(config.VAPID_PRIVATE_KEY);
    if (publicKey === null) throw new ConfigError(['VAPID_PRIVATE_KEY: is not a P-256 private key']);
    return { publicKey, privateKey: config.VAPID_PRIVATE_KEY, subject };
  }
  if (config.NODE_ENV === 'production') throw new ConfigError(['VAPID_PRIVATE_KEY: is required in production']);
  const privateKey = await ensureDevSecret(processEnv, VAPID_DEV_SECRET, log);
  const publicKey = publicKeyOf(privateKey);
  if (publicKey === null)
    throw new ConfigError([`VAPID_PRIVATE_KEY: the development key in keys/${VAPID_DEV_SECRET}.secret is not a P-256 key; delete it to have another made`]);
  return { publicKey, privateKey, subject };
}
