// pqc-iiot/bindings: the wasm core's typed API.
export { init, falconBuild, type InitOptions } from './runtime.js';
export { isReady } from './state.js';
export { mlKem512, mlKem768, mlKem1024, type Kem, type KemKeyPair, type Encapsulation } from './ml-kem.js';
export { falcon512, falcon1024, falconPadded512, falconPadded1024, type Signer, type SignKeyPair, type ExpandedSigningKey, type Verifier } from './falcon.js';
export { shake256, shake256Public } from './shake.js';
export { ae, type Aad, type AeKey } from './ae.js';
export { PqcError, type PqcErrorCode } from './errors.js';
export { AE_PARAMS, KEM_PARAMS, SIGNER_PARAMS, type AeLengths, type KemLengths, type SignerLengths } from './params.js';
export type { WasmSource } from './loader.js';
