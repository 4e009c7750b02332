/**
 * mesh-client: service-to-service request delivery for Node.js.
 *
 * @packageDocumentation
 */

export type { OutlierDetectionOptions, OutlierReason } from './breaker/outlier.js';
export { MeshClient, type MeshRequestConfig } from './client.js';
export type {
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
  ControlPlaneOptions,
} from './control/consul-kv.js';
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
export type { Position } from './governance.js';
export type { ConcurrencyLimitOptions } from './limit/concurrency.js';
export type { RateLimitOptions } from './limit/rate.js';
export type {
  BackoffOptions,
  BalancerPolicy,
  CircuitBreakerOptions,
  DiscoveryOptions,
  Full,
  LoadBalancerOptions,
  MeshClientOptions,
  PolicyOptions,
  ResolvedOptions,
  RetryBudgetOptions,
  RetryOptions,
  ServicePolicy,
  SidecarOptions,
  TimeoutOptions,
} from './options.js';
export type { ConfigureOptions } from './options-configure.js';
export type {
  GovernanceOptions,
  GovernancePolicy,
  LimitsOptions,
  ResolvedLimits,
  ResolvedRouting,
} from './options-governance.js';
export type { HedgeOptions } from './retry/hedge.js';
export { ATTEMPTS_HEADER } from './retry/stacking.js';
export { FAULT_HEADER, type FaultAbort, type FaultDelay, type FaultOptions } from './route/fault.js';
export type {
  RouteDestination,
  RouteMatch,
  RouteRule,
  RoutingOptions,
  SubsetWeight,
} from './route/rules.js';
export type { Selector } from './route/subsets.js';
export type { ZoneAwareOptions } from './route/zone.js';
export type {
  AttemptEvent,
  BudgetExhaustedEvent,
  CircuitEvent,
  CircuitOpenEvent,
  DiscoveryErrorEvent,
  EjectedEvent,
  EndpointsEvent,
  FaultEvent,
  HedgeEvent,
  MeshEvents,
  RetryEvent,
  RouteFallbackEvent,
  SidecarFallbackEvent,
  UnejectedEvent,
} from './telemetry/events.js';
export { redact, redactText } from './telemetry/logger.js';
export type {
  Logger,
  MetricsOptions,
  ResolvedTelemetry,
  TelemetryOptions,
  TracingOptions,
} from './telemetry/options.js';
export { extractContext, type HeaderCarrier, injectContext, TRACER_NAME } from './telemetry/tracing.js';
export {
  DEADLINE_HEADER,
  deadlineMiddleware,
  deadlineOf,
  type HasHeaders,
  remainingDeadline,
  withIncomingDeadline,
} from './timeout/propagation.js';
