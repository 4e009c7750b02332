/**
 * mesh-client: service-to-service request delivery for Node.js.
 *
 * @packageDocumentation
 */
export { MeshClient, type MeshRequestConfig } from './client.js';
export { MeshError, isMeshError, type MeshErrorCode, type MeshErrorDetails } from './errors.js';
export type {
  MeshClientOptions,
  PolicyOptions,
  LoadBalancerOptions,
  BalancerPolicy,
  RetryOptions,
  RetryBudgetOptions,
  BackoffOptions,
  CircuitBreakerOptions,
  TimeoutOptions,
} from './options.js';
export type { Discovery, Subscription, EndpointsListener } from './discovery/discovery.js';
export { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
export type { EndpointInfo, EndpointSnapshot, EndpointState } from './core/endpoint.js';
export { type Clock, type TimerHandle, ManualClock, systemClock } from './core/clock.js';
export { seededRandom } from './core/random.js';
export type {
  MeshEvents,
  EndpointsEvent,
  AttemptEvent,
  RetryEvent,
  BudgetExhaustedEvent,
  CircuitEvent,
  DiscoveryErrorEvent,
} from './telemetry/events.js';
