/**
 * mesh-client: service-to-service request delivery for Node.js.
 *
 * @packageDocumentation
 */
export { MeshClient, type MeshRequestConfig } from './client.js';
export { type Clock, ManualClock, systemClock, type TimerHandle } from './core/clock.js';
export type { EndpointInfo, EndpointSnapshot, EndpointState } from './core/endpoint.js';
export { seededRandom } from './core/random.js';
export { ConsulDiscovery, type ConsulOptions } from './discovery/consul.js';
export type { ConsulConnectionOptions } from './discovery/consul-connection.js';
export type {
  ConsulConnectionBlock,
  ConsulDiscoveryOptions,
  RegisterOptions,
} from './discovery/consul-options.js';
export {
  ConsulRegistrar,
  type ConsulRegistrarOptions,
  type Registration,
  type ServiceCheckOptions,
  type ServiceRegistration,
} from './discovery/consul-registration.js';
export type { Discovery, EndpointsListener, Subscription } from './discovery/discovery.js';
export { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
export { isMeshError, MeshError, type MeshErrorCode, type MeshErrorDetails } from './errors.js';
export type { Layer, PolicyPart, PolicyReport } from './explain.js';
export type {
  BackoffOptions,
  BalancerPolicy,
  CircuitBreakerOptions,
  DiscoveryOptions,
  LoadBalancerOptions,
  MeshClientOptions,
  PolicyOptions,
  RetryBudgetOptions,
  RetryOptions,
  TimeoutOptions,
} from './options.js';
export { ATTEMPTS_HEADER } from './retry/stacking.js';
export type {
  AttemptEvent,
  BudgetExhaustedEvent,
  CircuitEvent,
  CircuitOpenEvent,
  DiscoveryErrorEvent,
  EndpointsEvent,
  MeshEvents,
  RetryEvent,
} from './telemetry/events.js';
export {
  DEADLINE_HEADER,
  deadlineMiddleware,
  deadlineOf,
  type HasHeaders,
  remainingDeadline,
  withIncomingDeadline,
} from './timeout/propagation.js';
