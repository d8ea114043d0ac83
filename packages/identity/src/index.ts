export {
  DEFAULT_DELEGATION_DEPTH,
  DEFAULT_TOKEN_TTL_SECONDS,
  IDENTITY_ALGORITHMS,
  IDENTITY_TOKEN_TYPE,
  MAX_DELEGATION_DEPTH,
  MAX_TOKEN_LENGTH,
  MAX_TOKEN_TTL_SECONDS,
  MIN_HS256_SECRET_BYTES,
  isIdentityAlgorithm,
} from './algorithms.js';
export type { AsymmetricAlgorithm, IdentityAlgorithm } from './algorithms.js';
export { assertKeyDirectory, loadKeyMaterial, parseKeyMaterial } from './key-material.js';
export type { KeyMaterial, LoadKeyMaterialOptions } from './key-material.js';
export {
  createSigningKey,
  createVerificationKeys,
  exportSigningKeyPem,
  generateKeyPair,
  loadSigningKey,
  loadVerificationKeys,
  publicJwks,
} from './keys.js';
export type {
  CreateSigningKeyOptions,
  CreateVerificationKeysOptions,
  GenerateKeyPairOptions,
  LoadKeyOptions,
  SigningKey,
  SigningKeyInput,
  SigningKeyPem,
  VerificationKey,
} from './keys.js';
export { IdentityManager } from './identity-manager.js';
export type {
  CreateTokenOptions,
  DelegateOptions,
  DelegationResult,
  DelegationVerificationResult,
  IdentityFailure,
  IdentityFailureCode,
  IdentityManagerOptions,
  IdentityVerificationResult,
  IdentityVerified,
} from './identity-manager.js';
export { looksLikeToken } from './looks-like-token.js';
export { MAX_SCOPE_ENTRIES } from './token-claims.js';
export { VerificationCache } from './verification-cache.js';
export type { VerificationCacheOptions, VerificationCacheStats } from './verification-cache.js';
export type { JSONWebKeySet, JWK } from 'jose';
