export { connect, connectAsync } from './connect.js';
export { SecureMqttClient, type ClientStats, type MessageMeta, type SecureClientEvents, type SecurityEvent } from './secure-client.js';
export { ConnectionError, PublishError, SubscribeError, SecurityError } from './errors.js';
export { ControlTopics } from './control-topics.js';
export { CLIENT_DEFAULTS, type SecureClientOptions, type SecurePublishOptions, type SecureSubscribeOptions } from './options.js';
