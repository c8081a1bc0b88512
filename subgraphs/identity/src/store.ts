import { exec, row, rows, sql, z, type Session, type Tx } from '@vibestream/platform';

/**
 * identity's SQL, all of it: each function one statement with bound parameters, each row parsed
 * (columns aliased to the camelCase the API and use cases read). Reads take any Session; writes
 * take the Tx of a use case.
 */

const timestamp = z.coerce.date();
const role = z.enum(['FAN', 'ARTIST', 'ADMIN']);
const chain = z.enum(['ETHEREUM', 'SOLANA']);

export const User = z.object({
  id: z.string(),
  email: z.string(),
  emailNormalized: z.string(),
  passwordHash: z.string(),
  displayName: z.string(),
  roles: z.array(role),
  createdAt: timestamp,
  /** When the current email was verified; null until then, and again after a change of email. */
  emailVerifiedAt: timestamp.nullable(),
  /** The version of the user's contact (identity.user.contact_changed.v1), raised with each change. */
  contactVersion: z.number().int(),
});
export type User = z.output<typeof User>;
const userColumns = sql`id, email, email_normalized as "emailNormalized", password_hash as "passwordHash", display_name as "displayName", roles, created_at as "createdAt", email_verified_at as "emailVerifiedAt", contact_version as "contactVersion"`;

export const Wallet = z.object({ id: z.string(), userId: z.string(), chain, address: z.string(), linkedAt: timestamp });
export type Wallet = z.output<typeof Wallet>;
const walletColumns = sql`id, user_id as "userId", chain, address, linked_at as "linkedAt"`;

export const WalletChallenge = z.object({
  id: z.string(),
  message: z.string(),
  expiresAt: timestamp,
  usedAt: timestamp.nullable(),
});
export type WalletChallenge = z.output<typeof WalletChallenge>;

export const ApiKey = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  keyHash: z.string(),
  createdBy: z.string().nullable(),
  createdAt: timestamp,
  revokedAt: timestamp.nullable(),
  lastUsedAt: timestamp.nullable(),
});
export type ApiKey = z.output<typeof ApiKey>;
const apiKeyColumns = sql`id, name, key_prefix as prefix, key_hash as "keyHash", created_by as "createdBy", created_at as "createdAt", revoked_at as "revokedAt", last_used_at as "lastUsedAt"`;

const RefreshTokenState = z.object({
  id: z.string(),
  userId: z.string(),
  familyId: z.string(),
  expiresAt: timestamp,
  usedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
});
export type RefreshTokenState = z.output<typeof RefreshTokenState>;
const Id = z.object({ id: z.string() });
const list = (values: readonly string[]) => sql.join(values);

// ---- Users ----

export async function usersByIds(db: Session, ids: readonly string[]): Promise<User[]> {
  return rows(db, User, sql`select ${userColumns} from users where id in (${list(ids)})`);
}

export async function userById(db: Session, id: string): Promise<User | undefined> {
  return row(db, User, sql`select ${userColumns} from users where id = ${id}`);
}

export async function userByEmail(db: Session, emailNormalized: string): Promise<User | undefined> {
  return row(db, User, sql`select ${userColumns} from users where email_normalized = ${emailNormalized}`);
}

/** The user, locked until commit (serialises their wallet links and role changes). */
export async function lockUser(tx: Tx, id: string): Promise<User | undefined> {
  return row(tx, User, sql`select ${userColumns} from users where id = ${id} for update`);
}

export async function insertUser(tx: Tx, u: Omit<User, 'emailVerifiedAt' | 'contactVersion'>): Promise<User | undefined> {
  return row(
    tx,
    User,
    sql`insert into users (id, email, email_normalized, password_hash, display_name, roles, created_at)
        values (${u.id}, ${u.email}, ${u.emailNormalized}, ${u.passwordHash}, ${u.displayName}, ${u.roles}::text[], ${u.createdAt})
        returning ${userColumns}`,
  );
}

export async function setRoles(tx: Tx, id: string, roles: readonly string[]): Promise<User | undefined> {
  return row(tx, User, sql`update users set roles = ${[...roles]}::text[] where id = ${id} returning ${userColumns}`);
}

// ---- Refresh tokens ----

export async function insertRefreshToken(tx: Tx, t: { id: string; userId: string; familyId: string; tokenHash: string; expiresAt: Date }): Promise<void> {
  await exec(
    tx,
    sql`insert into refresh_tokens (id, user_id, family_id, token_hash, created_at, expires_at) values (${t.id}, ${t.userId}, ${t.familyId}, ${t.tokenHash}, now(), ${t.expiresAt})`,
  );
}

/** The refresh token with this hash, locked until commit. */
export async function lockRefreshToken(tx: Tx, tokenHash: string): Promise<RefreshTokenState | undefined> {
  return row(
    tx,
    RefreshTokenState,
    sql`select id, user_id as "userId", family_id as "familyId", expires_at as "expiresAt", used_at as "usedAt", revoked_at as "revokedAt"
        from refresh_tokens where token_hash = ${tokenHash} for update`,
  );
}

export async function markRefreshTokenUsed(tx: Tx, id: string): Promise<void> {
  await exec(tx, sql`update refresh_tokens set used_at = now() where id = ${id}`);
}

export async function revokeFamily(tx: Tx, familyId: string): Promise<void> {
  await exec(tx, sql`update refresh_tokens set revoked_at = now() where family_id = ${familyId} and revoked_at is null`);
}

/** Revokes the user's session family; answers how many refresh tokens it revoked. */
export async function revokeSession(tx: Tx, familyId: string, userId: string): Promise<number> {
  const revoked = await rows(
    tx,
    Id,
    sql`update refresh_tokens set revoked_at = now() where family_id = ${familyId} and user_id = ${userId} and revoked_at is null returning id`,
  );
  return revoked.length;
}

// ---- Wallets and challenges ----

export async function walletsOfUsers(db: Session, userIds: readonly string[]): Promise<Wallet[]> {
  return rows(db, Wallet, sql`select ${walletColumns} from wallets where user_id in (${list(userIds)}) order by linked_at asc`);
}

export async function walletByAddress(db: Session, walletChain: string, address: string): Promise<Wallet | undefined> {
  return row(db, Wallet, sql`select ${walletColumns} from wallets where chain = ${walletChain} and address = ${address}`);
}

const WalletCountOfRow = z.object({ n: z.number() });

export async function walletCountOf(db: Session, userId: string): Promise<number> {
  return (await row(db, WalletCountOfRow, sql`select count(*)::int as n from wallets where user_id = ${userId}`))?.n ?? 0;
}

export async function insertWallet(tx: Tx, w: { id: string; userId: string; chain: string; address: string; linkedAt: Date }): Promise<Wallet | undefined> {
  return row(
    tx,
    Wallet,
    sql`insert into wallets (id, user_id, chain, address, linked_at) values (${w.id}, ${w.userId}, ${w.chain}, ${w.address}, ${w.linkedAt}) returning ${walletColumns}`,
  );
}

export async function insertChallenge(
  tx: Tx,
  c: { id: string; userId: string; chain: string; address: string; nonce: string; message: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await exec(
    tx,
    sql`insert into wallet_challenges (id, user_id, chain, address, nonce, message, created_at, expires_at)
        values (${c.id}, ${c.userId}, ${c.chain}, ${c.address}, ${c.nonce}, ${c.message}, ${c.createdAt}, ${c.expiresAt})`,
  );
}

/** The user's newest challenges for the wallet. */
export async function challengesFor(db: Session, userId: string, walletChain: string, address: string, limit: number): Promise<WalletChallenge[]> {
  return rows(
    db,
    WalletChallenge,
    sql`select id, message, expires_at as "expiresAt", used_at as "usedAt" from wallet_challenges
        where user_id = ${userId} and chain = ${walletChain} and address = ${address} order by created_at desc limit ${limit}`,
  );
}

/** Uses the challenge if it is still unused and unexpired; answers whether it did. */
export async function claimChallenge(tx: Tx, id: string): Promise<boolean> {
  const claimed = await rows(
    tx,
    Id,
    sql`update wallet_challenges set used_at = now() where id = ${id} and used_at is null and expires_at > now() returning id`,
  );
  return claimed.length > 0;
}

// ---- API keys ----

export async function insertApiKey(
  tx: Tx,
  k: { id: string; name: string; prefix: string; keyHash: string; createdBy: string; createdAt: Date },
): Promise<ApiKey | undefined> {
  return row(
    tx,
    ApiKey,
    sql`insert into api_keys (id, name, key_prefix, key_hash, created_by, created_at) values (${k.id}, ${k.name}, ${k.prefix}, ${k.keyHash}, ${k.createdBy}, ${k.createdAt})
        returning ${apiKeyColumns}`,
  );
}

export async function revokeApiKey(tx: Tx, id: string): Promise<void> {
  await exec(tx, sql`update api_keys set revoked_at = now() where id = ${id} and revoked_at is null`);
}

export async function apiKeyById(db: Session, id: string): Promise<ApiKey | undefined> {
  return row(db, ApiKey, sql`select ${apiKeyColumns} from api_keys where id = ${id}`);
}

export async function apiKeyByPrefix(db: Session, prefix: string): Promise<ApiKey | undefined> {
  return row(db, ApiKey, sql`select ${apiKeyColumns} from api_keys where key_prefix = ${prefix}`);
}

/** The newest `limit` keys, newest first. */
export async function apiKeys(db: Session, limit: number): Promise<ApiKey[]> {
  return rows(db, ApiKey, sql`select ${apiKeyColumns} from api_keys order by created_at desc, id asc limit ${limit}`);
}

/** Records a key's use, at most once a minute. */
export async function touchApiKey(tx: Tx, id: string): Promise<void> {
  await exec(tx, sql`update api_keys set last_used_at = now() where id = ${id} and (last_used_at is null or last_used_at < now() - interval '1 minute')`);
}

// ---- Email ownership and recovery (src/use-cases/email-ownership.ts) ----

const EmailToken = z.object({ id: z.string(), userId: z.string(), purpose: z.string(), emailNormalized: z.string() });
export type EmailToken = z.output<typeof EmailToken>;
const FamilyId = z.object({ familyId: z.string() });

/** A single-use token for the user's `emailNormalized`, dead `ttlSeconds` after now (the database's clock, which consuming reads too). */
export async function insertEmailToken(
  tx: Tx,
  t: { id: string; userId: string; purpose: string; tokenHash: string; emailNormalized: string; ttlSeconds: number },
): Promise<void> {
  await exec(
    tx,
    sql`insert into email_tokens (id, user_id, purpose, token_hash, email_normalized, created_at, expires_at)
        values (${t.id}, ${t.userId}, ${t.purpose}, ${t.tokenHash}, ${t.emailNormalized}, now(), now() + make_interval(secs => ${t.ttlSeconds}))`,
  );
}

/**
 * Uses the token with this hash if it is unused, unexpired and of one of `purposes`, in one
 * statement (two concurrent uses: exactly one gets the row); answers it, or undefined.
 */
export async function consumeEmailToken(tx: Tx, tokenHash: string, purposes: readonly string[]): Promise<EmailToken | undefined> {
  return row(
    tx,
    EmailToken,
    sql`update email_tokens set used_at = now()
        where token_hash = ${tokenHash} and used_at is null and expires_at > now() and purpose = any(${[...purposes]}::text[])
        returning id, user_id as "userId", purpose, email_normalized as "emailNormalized"`,
  );
}

const EmailTokenState = z.object({ purpose: z.enum(['verify_email', 'change_email', 'reset_password']), expiresAt: timestamp, usedAt: timestamp.nullable() });

/** The token's state, read without using it (a cheap refusal before a password is hashed). */
export async function emailTokenState(db: Session, tokenHash: string): Promise<z.output<typeof EmailTokenState> | undefined> {
  return row(db, EmailTokenState, sql`select purpose, expires_at as "expiresAt", used_at as "usedAt" from email_tokens where token_hash = ${tokenHash}`);
}

/** Retires the user's unused tokens of `purposes` (a password reset ends the other reset links; a change of email, every link). */
export async function retireEmailTokens(tx: Tx, userId: string, purposes: readonly string[]): Promise<void> {
  await exec(tx, sql`update email_tokens set used_at = now() where user_id = ${userId} and used_at is null and purpose = any(${[...purposes]}::text[])`);
}

/** Marks the current email verified and raises the contact version; undefined when it was verified already (nothing changes). */
export async function markEmailVerified(tx: Tx, userId: string, emailNormalized: string): Promise<User | undefined> {
  return row(
    tx,
    User,
    sql`update users set email_verified_at = now(), contact_version = contact_version + 1
        where id = ${userId} and email_normalized = ${emailNormalized} and email_verified_at is null
        returning ${userColumns}`,
  );
}

/** Moves the account to a new, unverified email and raises the contact version (the unique index refuses an address in use). */
export async function changeEmail(tx: Tx, userId: string, email: string, emailNormalized: string): Promise<User | undefined> {
  return row(
    tx,
    User,
    sql`update users set email = ${email}, email_normalized = ${emailNormalized}, email_verified_at = null, contact_version = contact_version + 1
        where id = ${userId}
        returning ${userColumns}`,
  );
}

export async function setPasswordHash(tx: Tx, userId: string, passwordHash: string): Promise<User | undefined> {
  return row(tx, User, sql`update users set password_hash = ${passwordHash} where id = ${userId} returning ${userColumns}`);
}

/**
 * Ends every session of the user: revokes all their refresh tokens, and answers the sessions
 * (families) that may still hold an unexpired access token: those given a token within the last
 * `accessTokenTtlSeconds`, revoked just now or earlier.
 */
export async function revokeAllSessions(tx: Tx, userId: string, accessTokenTtlSeconds: number): Promise<string[]> {
  await exec(tx, sql`update refresh_tokens set revoked_at = now() where user_id = ${userId} and revoked_at is null`);
  const recent = await rows(
    tx,
    FamilyId,
    sql`select distinct family_id as "familyId" from refresh_tokens
        where user_id = ${userId} and created_at > now() - make_interval(secs => ${accessTokenTtlSeconds})`,
  );
  return recent.map((r) => r.familyId);
}

// ---- Passkeys (WebAuthn credentials and their challenges; use cases in use-cases/passkeys.ts) ----

export const Passkey = z.object({
  id: z.string(),
  userId: z.string(),
  credentialId: z.string(),
  publicKey: z.instanceof(Buffer),
  counter: z.coerce.number().int().nonnegative(),
  transports: z.array(z.string()),
  name: z.string(),
  createdAt: timestamp,
  lastUsedAt: timestamp.nullable(),
});
export type Passkey = z.output<typeof Passkey>;
const passkeyColumns = sql`id, user_id as "userId", credential_id as "credentialId", public_key as "publicKey", counter, transports, name, created_at as "createdAt", last_used_at as "lastUsedAt"`;

export const PasskeyChallenge = z.object({
  id: z.string(),
  purpose: z.enum(['registration', 'authentication']),
  userId: z.string().nullable(),
  challenge: z.string(),
  expiresAt: timestamp,
  usedAt: timestamp.nullable(),
});
export type PasskeyChallenge = z.output<typeof PasskeyChallenge>;
const passkeyChallengeColumns = sql`id, purpose, user_id as "userId", challenge, expires_at as "expiresAt", used_at as "usedAt"`;

export async function passkeysOfUsers(db: Session, userIds: readonly string[]): Promise<Passkey[]> {
  return rows(db, Passkey, sql`select ${passkeyColumns} from passkeys where user_id in (${list(userIds)}) order by created_at asc, id asc`);
}

const PasskeyOfEmail = z.object({ userId: z.string(), credentialId: z.string().nullable() });

/**
 * The account of an email and its passkeys' credential ids, in one statement whether or not the
 * email has an account or passkeys (a sign-in's answer should not take longer for one than another).
 */
export async function passkeyCredentialsOfEmail(db: Session, emailNormalized: string): Promise<{ userId: string | null; credentialIds: string[] }> {
  const found = await rows(
    db,
    PasskeyOfEmail,
    sql`select u.id as "userId", p.credential_id as "credentialId" from users u left join passkeys p on p.user_id = u.id
        where u.email_normalized = ${emailNormalized} order by p.created_at asc, p.id asc`,
  );
  return { userId: found[0]?.userId ?? null, credentialIds: found.flatMap((r) => (r.credentialId ? [r.credentialId] : [])) };
}

export async function passkeyByCredentialId(db: Session, credentialId: string): Promise<Passkey | undefined> {
  return row(db, Passkey, sql`select ${passkeyColumns} from passkeys where credential_id = ${credentialId}`);
}

/** The passkey, locked until commit (serialises sign-ins with one credential, so its counter moves one way). */
export async function lockPasskey(tx: Tx, id: string): Promise<Passkey | undefined> {
  return row(tx, Passkey, sql`select ${passkeyColumns} from passkeys where id = ${id} for update`);
}

const PasskeyCountRow = z.object({ n: z.number() });

export async function passkeyCountOf(db: Session, userId: string): Promise<number> {
  return (await row(db, PasskeyCountRow, sql`select count(*)::int as n from passkeys where user_id = ${userId}`))?.n ?? 0;
}

export async function insertPasskey(
  tx: Tx,
  p: { id: string; userId: string; credentialId: string; publicKey: Buffer; counter: number; transports: readonly string[]; name: string; createdAt: Date },
): Promise<Passkey | undefined> {
  return row(
    tx,
    Passkey,
    sql`insert into passkeys (id, user_id, credential_id, public_key, counter, transports, name, created_at)
        values (${p.id}, ${p.userId}, ${p.credentialId}, ${p.publicKey}, ${p.counter}, ${[...p.transports]}::text[], ${p.name}, ${p.createdAt})
        returning ${passkeyColumns}`,
  );
}

export async function recordPasskeyUse(tx: Tx, id: string, counter: number): Promise<void> {
  await exec(tx, sql`update passkeys set counter = ${counter}, last_used_at = now() where id = ${id}`);
}

/** Deletes the user's passkey; answers whether there was one. */
export async function deletePasskey(tx: Tx, id: string, userId: string): Promise<boolean> {
  return (await rows(tx, Id, sql`delete from passkeys where id = ${id} and user_id = ${userId} returning id`)).length > 0;
}

export async function insertPasskeyChallenge(
  tx: Tx,
  c: { id: string; purpose: 'registration' | 'authentication'; userId: string | null; challenge: string; createdAt: Date; expiresAt: Date },
): Promise<void> {
  await exec(
    tx,
    sql`insert into passkey_challenges (id, purpose, user_id, challenge, created_at, expires_at)
        values (${c.id}, ${c.purpose}, ${c.userId}, ${c.challenge}, ${c.createdAt}, ${c.expiresAt})`,
  );
}

export async function passkeyChallengeById(db: Session, id: string): Promise<PasskeyChallenge | undefined> {
  return row(db, PasskeyChallenge, sql`select ${passkeyChallengeColumns} from passkey_challenges where id = ${id}`);
}

export async function passkeyChallengeByValue(db: Session, challenge: string): Promise<PasskeyChallenge | undefined> {
  return row(db, PasskeyChallenge, sql`select ${passkeyChallengeColumns} from passkey_challenges where challenge = ${challenge}`);
}

/**
 * Uses the challenge if it is still unused and unexpired (and, for a registration, the user's):
 * one statement, so of concurrent claims exactly one gets the row back.
 */
export async function claimPasskeyChallenge(
  tx: Tx,
  id: string,
  purpose: 'registration' | 'authentication',
  userId: string | null,
): Promise<PasskeyChallenge | undefined> {
  return row(
    tx,
    PasskeyChallenge,
    sql`update passkey_challenges set used_at = now()
        where id = ${id} and purpose = ${purpose} and used_at is null and expires_at > now()
          and (${purpose} = 'authentication' or user_id = ${userId})
        returning ${passkeyChallengeColumns}`,
  );
}

/** Forgets challenges that expired more than an hour ago, at most `limit` per call (each start sweeps a little). */
export async function sweepPasskeyChallenges(tx: Tx, limit: number): Promise<void> {
  await exec(
    tx,
    sql`delete from passkey_challenges where id in (
          select id from passkey_challenges where expires_at < now() - interval '1 hour' limit ${limit} for update skip locked)`,
  );
}

// ---- Social sign-in with OpenID Connect (src/use-cases/social-sign-in.ts) ----

export const OidcFlow = z.object({
  provider: z.string(),
  redirectUri: z.string(),
  nonce: z.string(),
  codeVerifier: z.string(),
  expiresAt: timestamp,
});
export type OidcFlow = z.output<typeof OidcFlow>;

export const LinkedIdentity = z.object({ provider: z.string(), subject: z.string(), userId: z.string(), linkedAt: timestamp });
export type LinkedIdentity = z.output<typeof LinkedIdentity>;
const linkedIdentityColumns = sql`provider, subject, user_id as "userId", linked_at as "linkedAt"`;

/** A started flow: the state's hash, with what completing it needs (nonce, PKCE verifier, provider, redirect URI), dead `ttlSeconds` after now. */
export async function insertOidcFlow(
  tx: Tx,
  f: { stateHash: string; provider: string; redirectUri: string; nonce: string; codeVerifier: string; ttlSeconds: number },
): Promise<void> {
  await exec(
    tx,
    sql`insert into oidc_flows (state_hash, provider, redirect_uri, nonce, code_verifier, created_at, expires_at)
        values (${f.stateHash}, ${f.provider}, ${f.redirectUri}, ${f.nonce}, ${f.codeVerifier}, now(), now() + make_interval(secs => ${f.ttlSeconds}))`,
  );
}

/**
 * Takes the flow of this state, if it exists and has not expired: deleted in one statement, so of
 * concurrent completions exactly one gets it, and a state works once.
 */
export async function takeOidcFlow(tx: Tx, stateHash: string): Promise<OidcFlow | undefined> {
  return row(
    tx,
    OidcFlow,
    sql`delete from oidc_flows where state_hash = ${stateHash} and expires_at > now()
        returning provider, redirect_uri as "redirectUri", nonce, code_verifier as "codeVerifier", expires_at as "expiresAt"`,
  );
}

/** Deletes up to `limit` expired flows (run as new flows start, so abandoned ones do not pile up). */
export async function deleteExpiredOidcFlows(tx: Tx, limit: number): Promise<void> {
  await exec(
    tx,
    sql`delete from oidc_flows where state_hash in (select state_hash from oidc_flows where expires_at <= now() limit ${limit} for update skip locked)`,
  );
}

/** Serialises sign-ins of one (provider, subject) until commit, so two at once cannot both create an account. */
export async function lockProviderSubject(tx: Tx, provider: string, subject: string): Promise<void> {
  await exec(tx, sql`select pg_advisory_xact_lock(hashtextextended(${`oidc:${provider}:${subject}`}, 0))`);
}

export async function identityBySubject(db: Session, provider: string, subject: string): Promise<LinkedIdentity | undefined> {
  return row(db, LinkedIdentity, sql`select ${linkedIdentityColumns} from user_identities where provider = ${provider} and subject = ${subject}`);
}

export async function insertIdentity(
  tx: Tx,
  i: { provider: string; subject: string; userId: string; email: string | null },
): Promise<LinkedIdentity | undefined> {
  return row(
    tx,
    LinkedIdentity,
    sql`insert into user_identities (provider, subject, user_id, email, linked_at, last_sign_in_at)
        values (${i.provider}, ${i.subject}, ${i.userId}, ${i.email}, now(), now())
        returning ${linkedIdentityColumns}`,
  );
}

export async function touchIdentity(tx: Tx, provider: string, subject: string, email: string | null): Promise<void> {
  await exec(tx, sql`update user_identities set last_sign_in_at = now(), email = ${email} where provider = ${provider} and subject = ${subject}`);
}

export async function identitiesOfUsers(db: Session, userIds: readonly string[]): Promise<LinkedIdentity[]> {
  return rows(
    db,
    LinkedIdentity,
    sql`select ${linkedIdentityColumns} from user_identities where user_id in (${list(userIds)}) order by linked_at asc, provider asc`,
  );
}

/** An account created by a provider that vouches for its email starts verified (its contact version stays 1). */
export async function setEmailVerifiedOnCreation(tx: Tx, userId: string): Promise<User | undefined> {
  return row(tx, User, sql`update users set email_verified_at = now() where id = ${userId} returning ${userColumns}`);
}
