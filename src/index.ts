/**
 * mesh-client: service-to-service request delivery for Node.js.
 *
 * @packageDocumentation
 */

export { BALANCER_POLICIES, type BalancerPolicy, type LoadBalancerOptions } from './balance/options.js';
export type { CircuitBreakerOptions } from './breaker/options.js';
export { MeshClient, type MeshRequestConfig } from './client/client.js';
export type {
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
  ControlPlaneOptions,
} from './control/consul-kv.js';
export { type Clock, ManualClock, systemClock, type TimerHandle } from './core/clock.js';
export type { EndpointInfo, EndpointSnapshot, EndpointState } from './core/endpoint.js';
export { seededRandom } from './core/random.js';
export type { ConsulConnectionOptions } from './discovery/consul/connection.js';
export { ConsulDiscovery, type ConsulOptions } from './discovery/consul/discovery.js';
export type {
  ConsulConnectionBlock,
  ConsulDiscoveryOptions,
  RegisterOptions,
} from './discovery/consul/options.js';
export {
  ConsulRegistrar,
  type ConsulRegistrarOptions,
  type Registration,
  type ServiceCheckOptions,
  type ServiceRegistration,
  type ServiceWeights,
} from './discovery/consul/registration.js';
export type { Discovery, EndpointsListener, Subscription } from './discovery/discovery.js';
export {
  DnsDiscovery,
  type DnsDiscoveryOptions,
  type DnsOptions,
  type DnsRecordType,
  type DnsServiceOptions,
  type DnsTarget,
} from './discovery/dns/discovery.js';
export type { DiscoveryOptions } from './discovery/options.js';
export { StaticDiscovery, type StaticEndpoints } from './discovery/static.js';
export { isMeshError, MeshError, type MeshErrorCode, type MeshErrorDetails } from './errors/mesh-error.js';
export { FAULT_HEADER } from './fault/fault.js';
export type { FaultAbort, FaultDelay, FaultOptions } from './fault/options.js';
export type { SidecarOptions } from './handoff/options.js';
export type { HedgeOptions } from './hedge/options.js';
export type { ConsulCaOptions, MtlsOptions, TlsOptions } from './identity/options.js';
export type { SourceKind } from './identity/source.js';
export type { ConcurrencyLimitOptions, LimitsOptions, RateLimitOptions } from './limit/options.js';
export type { Layer, PolicyPart, PolicyReport } from './mesh/explain.js';
export type { PositionName } from './mesh/position.js';
export type { PolicyPath } from './mesh/stack.js';
export type {
  ConfigureOptions,
  MeshClientOptions,
  PolicyOptions,
  ResolvedOptions,
  ServicePolicy,
} from './options/index.js';
export type { OutlierReason } from './outlier/detector.js';
export type { OutlierDetectionOptions } from './outlier/options.js';
export type { BackoffOptions, RetryBudgetOptions, RetryOptions } from './retry/options.js';
export { ATTEMPTS_HEADER } from './retry/stacking.js';
export type {
  RouteDestination,
  RouteMatch,
  RouteRule,
  RoutingOptions,
  SubsetWeight,
  ZoneAwareOptions,
} from './route/options.js';
export type { Selector } from './route/subsets.js';
export type {
  AttemptEvent,
  AuthzDeniedEvent,
  BudgetExhaustedEvent,
  CircuitEvent,
  CircuitOpenEvent,
  DiscoveryErrorEvent,
  EjectedEvent,
  EndpointsEvent,
  FaultEvent,
  HedgeEvent,
  MeshEventPayloads,
  MeshEvents,
  RetryEvent,
  RouteFallbackEvent,
  SidecarFallbackEvent,
  TlsErrorEvent,
  TlsRotatedEvent,
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
export type { TimeoutOptions } from './timeout/options.js';
export {
  DEADLINE_HEADER,
  deadlineMiddleware,
  deadlineOf,
  type HasHeaders,
  remainingDeadline,
  withIncomingDeadline,
} from './timeout/propagation.js';
