import { defineEntity, p } from '@mikro-orm/core';

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    email: p.string(),
    emailNormalized: p.string(),
    passwordHash: p.string().hidden(),
    displayName: p.string(),
    roles: p.array<string>().columnType('text[]'),
    createdAt: p.datetime(),
  },
});
export class User extends UserSchema.class {}
UserSchema.setClass(User);

export const RefreshTokenSchema = defineEntity({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    familyId: p.uuid(),
    tokenHash: p.string(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
export class RefreshToken extends RefreshTokenSchema.class {}
RefreshTokenSchema.setClass(RefreshToken);

export const WalletSchema = defineEntity({
  name: 'Wallet',
  tableName: 'wallets',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    chain: p.string(),
    address: p.string(),
    linkedAt: p.datetime(),
  },
});
export class Wallet extends WalletSchema.class {}
WalletSchema.setClass(Wallet);

export const WalletChallengeSchema = defineEntity({
  name: 'WalletChallenge',
  tableName: 'wallet_challenges',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid(),
    chain: p.string(),
    address: p.string(),
    nonce: p.string(),
    message: p.text(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
});
export class WalletChallenge extends WalletChallengeSchema.class {}
WalletChallengeSchema.setClass(WalletChallenge);

/** A partner's key to the public graph; the secret is stored only as its SHA-256. */
export const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  properties: {
    id: p.uuid().primary(),
    name: p.string(),
    prefix: p.string().fieldName('key_prefix'),
    keyHash: p.string().hidden(),
    /** The ADMIN who created it (no foreign key: the key outlives its creator's account). */
    createdBy: p.uuid().nullable(),
    createdAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
  },
});
export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);

export const entities = [UserSchema, RefreshTokenSchema, WalletSchema, WalletChallengeSchema, ApiKeySchema];
