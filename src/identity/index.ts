// Identities: subject ids and the key pairs behind them.
export { MAX_SUBJECT_BYTES, validateSubjectId } from '../wire/subject-id.js';
export {
  Identity,
  MAX_IDENTITY_EXPORT_BYTES,
  PUBLIC_KEY_LENGTHS,
  SEED_BYTES,
  destroyIdentity,
  exportIdentity,
  generateIdentity,
  importIdentity,
  type GenerateIdentityOptions,
  type ImportIdentityOptions,
  type PublicKeys,
  type X25519KeyPair,
} from './identity.js';
