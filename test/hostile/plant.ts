// The plant both hostile-broker runs (scenario/, signed mode; amortised/,
// amortised mode) stage: the control prefix, the two production lines'
// channels and topics, how a device's MQTT client id is spelt, and the one
// forging step both attackers take the same way (a fresh sequence number).
// Kept in one place so the two runs attack the same topic tree.

import type { Rng } from '../support/mitm-proxy.js';

/** The SDK's reserved control prefix (certs, crl, grants, key-requests). */
export const PREFIX = 'pqc-iiot/v1';
export const DAY = 86_400_000;

/** pub-1's channel and its topics. */
export const CH1 = 'plant/line1/#';
export const T1 = ['plant/line1/temp', 'plant/line1/pressure', 'plant/line1/flow'];
/** Published retained on CH1: signed envelopes only (amortised mode seals retained messages signed, docs/PROTOCOL.md). */
export const T1_RETAINED = 'plant/line1/state';

/** pub-2's channel and its topics. */
export const CH2 = 'plant/line2/#';
export const T2 = ['plant/line2/level', 'plant/line2/valve'];

/** A device's MQTT client id: the proxy finds its connection by it. */
export const mqttClientId = (id: string): string => `${id}-mqtt`;

/** The device behind an MQTT client id (the inverse of mqttClientId). */
export const deviceOf = (clientId: string | undefined): string | undefined => clientId?.replace(/-mqtt$/, '');

/** A sequence number far ahead of `seq` that no honest publisher has used: a forgery's. */
export const freshSeq = (rng: Rng, seq: number): number => seq + 1_000_000_000 + rng.int(1_000_000);

/** The control topics a redirected packet is sent to: `me`'s grants and key requests, pub-1's announcements, the revocation list. */
export const controlTopicsOf = (me: string): string[] => [`${PREFIX}/grants/${me}`, `${PREFIX}/key-requests/${me}`, `${PREFIX}/certs/pub-1`, `${PREFIX}/crl`];
