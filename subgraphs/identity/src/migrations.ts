import { jobsMigrationSql, sqlMigration } from '@vibestream/platform';

export const migrations = [
  sqlMigration(
    '0001_identity_users_sessions_wallets',
    `
create table users (
  id uuid primary key,
  email text not null,
  email_normalized text not null,
  password_hash text not null,
  display_name text not null,
  roles text[] not null default '{FAN}',
  created_at timestamptz not null default now(),
  constraint users_roles_valid check (roles <@ array['FAN','ARTIST','ADMIN']::text[] and cardinality(roles) > 0)
);
create unique index users_email_normalized_key on users (email_normalized);

create table refresh_tokens (
  id uuid primary key,
  user_id uuid not null references users(id) on delete cascade,
  family_id uuid not null,
  token_hash text not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  revoked_at timestamptz
);
create index refresh_tokens_family on refresh_tokens (family_id);

create table wallets (
  id uuid primary key,
  user_id uuid not null references users(id) on delete cascade,
  chain text not null check (chain in ('ETHEREUM','SOLANA')),
  address text not null,
  linked_at timestamptz not null default now(),
  constraint wallets_chain_address_key unique (chain, address)
);
create index wallets_user on wallets (user_id);

create table wallet_challenges (
  id uuid primary key,
  user_id uuid not null references users(id) on delete cascade,
  chain text not null,
  address text not null,
  nonce text not null unique,
  message text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create index wallet_challenges_lookup on wallet_challenges (user_id, chain, address, created_at desc);
`,
  ),
  sqlMigration(
    '0002_identity_api_keys',
    `
create table api_keys (
  id uuid primary key,
  name text not null,
  key_prefix text not null,
  key_hash text not null,
  created_by uuid,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  last_used_at timestamptz,
  constraint api_keys_name_length check (char_length(name) between 1 and 100)
);
create unique index api_keys_key_prefix_key on api_keys (key_prefix);
create index api_keys_created_at on api_keys (created_at desc);
`,
  ),
  // Email ownership and recovery (src/use-cases/email-ownership.ts): whether the account's email is
  // verified, the version of its contact (identity.user.contact_changed.v1), the single-use tokens
  // of the verification, change and reset links (only their SHA-256), and the mail job queue.
  sqlMigration(
    '0003_identity_email_ownership',
    `
alter table users add column email_verified_at timestamptz;
alter table users add column contact_version integer not null default 1 check (contact_version >= 1);

create table email_tokens (
  id uuid primary key,
  user_id uuid not null references users(id) on delete cascade,
  purpose text not null check (purpose in ('verify_email','change_email','reset_password')),
  token_hash text not null,
  email_normalized text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create unique index email_tokens_token_hash_key on email_tokens (token_hash);
create index email_tokens_user on email_tokens (user_id, purpose) where used_at is null;
${jobsMigrationSql}`,
  ),
  // Passkeys (src/use-cases/passkeys.ts): each user's WebAuthn credentials (public key, signature
  // counter) and the single-use, expiring challenges of registration and sign-in.
  sqlMigration(
    '0005_identity_passkeys',
    `
create table passkeys (
  id uuid primary key,
  user_id uuid not null references users(id) on delete cascade,
  credential_id text not null,
  public_key bytea not null,
  counter bigint not null default 0 check (counter >= 0),
  transports text[] not null default '{}',
  name text not null check (char_length(name) between 1 and 64),
  created_at timestamptz not null default now(),
  last_used_at timestamptz
);
create unique index passkeys_credential_id_key on passkeys (credential_id);
create index passkeys_user on passkeys (user_id, created_at);

create table passkey_challenges (
  id uuid primary key,
  purpose text not null check (purpose in ('registration','authentication')),
  user_id uuid references users(id) on delete cascade,
  challenge text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz
);
create unique index passkey_challenges_challenge_key on passkey_challenges (challenge);
create index passkey_challenges_expires on passkey_challenges (expires_at);
`,
  ),
  // Social sign-in with OpenID Connect (src/use-cases/social-sign-in.ts): the flows started and not yet
  // completed (state stored as its SHA-256, used once: deleted when completed), and the identities
  // (provider, subject) linked to accounts.
  sqlMigration(
    '0004_identity_social_sign_in',
    `
create table oidc_flows (
  state_hash text primary key,
  provider text not null,
  redirect_uri text not null,
  nonce text not null,
  code_verifier text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index oidc_flows_expires on oidc_flows (expires_at);

create table user_identities (
  provider text not null,
  subject text not null,
  user_id uuid not null references users(id) on delete cascade,
  email text,
  linked_at timestamptz not null default now(),
  last_sign_in_at timestamptz not null default now(),
  primary key (provider, subject),
  constraint user_identities_user_provider_key unique (user_id, provider)
);
`,
  ),
];
