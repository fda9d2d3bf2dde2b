// The Bunker protocol: generated gRPC code (proto/bunker/v1) and the identifiers and error
// base that every package shares.
export * from './gen/bunker/v1/log.js';
export * from './gen/bunker/v1/replication.js';
export * from './gen/bunker/v1/agent.js';
export * from './ids.js';
export * from './bunker-error.js';
export * from './grpc-errors.js';
export * from './tls.js';
