/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    accessToken\n    refreshToken\n    user {\n      id\n      email\n      displayName\n      roles\n    }\n  }\n}\n\nmutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) {\n    accessToken\n    refreshToken\n    user {\n      id\n      roles\n    }\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    accessToken\n    refreshToken\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    id\n    email\n    displayName\n    roles\n    createdAt\n    wallets {\n      chain\n      address\n      linkedAt\n    }\n  }\n}\n\nmutation WalletChallenge($chain: Chain!, $address: String!) {\n  walletChallenge(chain: $chain, address: $address) {\n    message\n    expiresAt\n  }\n}\n\nmutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {\n  linkWallet(chain: $chain, address: $address, signature: $signature) {\n    chain\n    address\n    linkedAt\n  }\n}\n\nmutation SetUserRoles($userId: ID!, $roles: [Role!]!) {\n  setUserRoles(userId: $userId, roles: $roles) {\n    id\n    roles\n  }\n}": typeof types.RegisterDocument,
};
const documents: Documents = {
    "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    accessToken\n    refreshToken\n    user {\n      id\n      email\n      displayName\n      roles\n    }\n  }\n}\n\nmutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) {\n    accessToken\n    refreshToken\n    user {\n      id\n      roles\n    }\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    accessToken\n    refreshToken\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    id\n    email\n    displayName\n    roles\n    createdAt\n    wallets {\n      chain\n      address\n      linkedAt\n    }\n  }\n}\n\nmutation WalletChallenge($chain: Chain!, $address: String!) {\n  walletChallenge(chain: $chain, address: $address) {\n    message\n    expiresAt\n  }\n}\n\nmutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {\n  linkWallet(chain: $chain, address: $address, signature: $signature) {\n    chain\n    address\n    linkedAt\n  }\n}\n\nmutation SetUserRoles($userId: ID!, $roles: [Role!]!) {\n  setUserRoles(userId: $userId, roles: $roles) {\n    id\n    roles\n  }\n}": types.RegisterDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    accessToken\n    refreshToken\n    user {\n      id\n      email\n      displayName\n      roles\n    }\n  }\n}\n\nmutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) {\n    accessToken\n    refreshToken\n    user {\n      id\n      roles\n    }\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    accessToken\n    refreshToken\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    id\n    email\n    displayName\n    roles\n    createdAt\n    wallets {\n      chain\n      address\n      linkedAt\n    }\n  }\n}\n\nmutation WalletChallenge($chain: Chain!, $address: String!) {\n  walletChallenge(chain: $chain, address: $address) {\n    message\n    expiresAt\n  }\n}\n\nmutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {\n  linkWallet(chain: $chain, address: $address, signature: $signature) {\n    chain\n    address\n    linkedAt\n  }\n}\n\nmutation SetUserRoles($userId: ID!, $roles: [Role!]!) {\n  setUserRoles(userId: $userId, roles: $roles) {\n    id\n    roles\n  }\n}"): (typeof documents)["mutation Register($input: RegisterInput!) {\n  register(input: $input) {\n    accessToken\n    refreshToken\n    user {\n      id\n      email\n      displayName\n      roles\n    }\n  }\n}\n\nmutation Login($email: String!, $password: String!) {\n  login(email: $email, password: $password) {\n    accessToken\n    refreshToken\n    user {\n      id\n      roles\n    }\n  }\n}\n\nmutation RefreshSession($refreshToken: String!) {\n  refreshSession(refreshToken: $refreshToken) {\n    accessToken\n    refreshToken\n  }\n}\n\nmutation Logout {\n  logout\n}\n\nquery Me {\n  me {\n    id\n    email\n    displayName\n    roles\n    createdAt\n    wallets {\n      chain\n      address\n      linkedAt\n    }\n  }\n}\n\nmutation WalletChallenge($chain: Chain!, $address: String!) {\n  walletChallenge(chain: $chain, address: $address) {\n    message\n    expiresAt\n  }\n}\n\nmutation LinkWallet($chain: Chain!, $address: String!, $signature: String!) {\n  linkWallet(chain: $chain, address: $address, signature: $signature) {\n    chain\n    address\n    linkedAt\n  }\n}\n\nmutation SetUserRoles($userId: ID!, $roles: [Role!]!) {\n  setUserRoles(userId: $userId, roles: $roles) {\n    id\n    roles\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;