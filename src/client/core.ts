// What every room of the client shares with the client itself: its id and
// control topics, its clock, the mqtt.js client once there is one, whether
// end() began, and where errors go. One narrow view, handed to each room, so
// no room reaches into the client's private state.

import type { MqttClient } from 'mqtt';
import type { Clock } from '../clock.js';
import type { ControlTopics } from './control-topics.js';

export interface ClientCore {
  readonly id: string;
  readonly topics: ControlTopics;
  readonly clock: Clock;
  /** The mqtt.js client, once connect() created it. */
  mqtt(): MqttClient | undefined;
  /** True once end() began. */
  ending(): boolean;
  /** Reports an error as an 'error' event (on the console if nobody listens); anything thrown becomes an Error. */
  error(err: unknown): void;
}

/** Anything thrown, as an Error. */
export const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
