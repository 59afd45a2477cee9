// The browser smoke check, shared by smoke.html (page) and smoke-worker.js
// (module worker). It only measures and reports: the Node test asserts on the
// result, so a wrong answer here fails the test rather than being judged here.
// Plain JavaScript served as is (no build step): the browser loads the built
// bundle dist/bindings.js, which fetches ../wasm/pqc.wasm by itself.

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** A copy of `bytes` with one bit flipped. */
const flipBit = (bytes, bit) => {
  const out = bytes.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
};

export async function runSmoke() {
  const scope =
    typeof WorkerGlobalScope !== 'undefined' && globalThis instanceof WorkerGlobalScope ? 'worker' : typeof window !== 'undefined' ? 'window' : 'unknown';

  // Count the randomness the wasm core draws: it calls crypto.getRandomValues
  // through its one import (a shadowing own property sees every call).
  const random = { calls: 0, bytes: 0 };
  const getRandomValues = crypto.getRandomValues;
  crypto.getRandomValues = function (array) {
    random.calls += 1;
    random.bytes += array.byteLength;
    return getRandomValues.call(crypto, array);
  };

  const timings = {};
  const time = (name, fn) => {
    const t0 = performance.now();
    const value = fn();
    timings[name] = performance.now() - t0;
    return value;
  };

  try {
    const tStart = performance.now();
    let t0 = performance.now();
    const { init, mlKem768, falcon512 } = await import('../../dist/bindings.js');
    timings.import = performance.now() - t0;
    t0 = performance.now();
    await init();
    timings.init = performance.now() - t0;
    const randomAfterInit = random.calls;

    // ML-KEM-768
    const kp = time('kemKeygen', () => mlKem768.keygen());
    const enc = time('encapsulate', () => mlKem768.encapsulate(kp.publicKey));
    const dec = time('decapsulate', () => mlKem768.decapsulate(enc.ciphertext, kp.secretKey));
    const tampered = mlKem768.decapsulate(flipBit(enc.ciphertext, 8 * 100 + 3), kp.secretKey);
    const kp2 = mlKem768.keygen();

    // Falcon-512
    const message = new TextEncoder().encode(`pqc-iiot browser smoke (${scope})`);
    const fk = time('falconKeygen', () => falcon512.keygen());
    const sig = time('sign', () => falcon512.sign(message, fk.secretKey));
    const ok = time('verify', () => falcon512.verify(sig, message, fk.publicKey));
    const badMessage = falcon512.verify(sig, flipBit(message, 0), fk.publicKey);
    const badSignature = falcon512.verify(flipBit(sig, 8 * 50 + 1), message, fk.publicKey);
    timings.total = performance.now() - tStart;

    return {
      scope,
      userAgent: navigator.userAgent,
      kem: {
        publicKeyLength: kp.publicKey.length,
        secretKeyLength: kp.secretKey.length,
        ciphertextLength: enc.ciphertext.length,
        sharedSecret: hex(enc.sharedSecret),
        decapsulated: hex(dec),
        tampered: hex(tampered),
        publicKey: hex(kp.publicKey),
        secondPublicKey: hex(kp2.publicKey),
      },
      falcon: {
        publicKeyLength: fk.publicKey.length,
        signatureLength: sig.length,
        verify: ok,
        tamperedMessage: badMessage,
        tamperedSignature: badSignature,
      },
      random: { calls: random.calls, bytes: random.bytes, callsDuringInit: randomAfterInit },
      timings,
    };
  } finally {
    delete crypto.getRandomValues; // back to Crypto.prototype's
  }
}
