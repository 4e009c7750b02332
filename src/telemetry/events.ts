/**
 * Typed events of a {@link MeshClient}, kebab-case, on eventemitter3.
 *
 * Emitting costs an object per event, so per-request events (`attempt`) are only built when
 * someone listens (see {@link MeshEmitter.wants}).
 */
import { EventEmitter } from 'eventemitter3';
import type { EjectedEvent, UnejectedEvent } from '../breaker/outlier.js';
import type {
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
} from '../control/consul-kv.js';
import type { Emit } from '../core/emit.js';
import type { EndpointSnapshot } from '../core/endpoint.js';
import type { HedgeEvent } from '../retry/hedge.js';
import type { FaultEvent } from '../route/fault.js';
import type { RouteFallbackEvent } from '../route/rules.js';

export type {
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
  EjectedEvent,
  FaultEvent,
  HedgeEvent,
  RouteFallbackEvent,
  UnejectedEvent,
};

/** The endpoint set of a service changed. */
export interface EndpointsEvent {
  service: string;
  /** The whole set after the change. */
  endpoints: EndpointSnapshot[];
  /** Endpoint URLs that appeared. */
  added: string[];
  /** Endpoint URLs that left. */
  removed: string[];
}

/** One attempt finished (answered, failed or was cut short). */
export interface AttemptEvent {
  service: string;
  endpoint: string;
  /** 1-based attempt number within the request. */
  attempt: number;
  method: string;
  /** HTTP status, when a response came back. */
  status: number | undefined;
  /** Error code (e.g. `ECONNREFUSED`, `MESH_TIMEOUT`), when no response came back. */
  error: string | undefined;
  durationMs: number;
}

/** A failed attempt is about to be retried. */
export interface RetryEvent {
  service: string;
  /** The attempt that failed. */
  attempt: number;
  /** Where the failed attempt went. */
  endpoint: string | undefined;
  /** Status or error code that caused the retry. */
  reason: string;
  /** Backoff before the next attempt (ms). */
  delayMs: number;
}

/** A retry was allowed by the policy but refused by the retry budget. */
export interface BudgetExhaustedEvent {
  service: string;
  attempt: number;
  reason: string;
}

/** A circuit breaker of one endpoint changed state. */
export interface CircuitEvent {
  service: string;
  endpoint: string;
}

/** A circuit breaker opened: the endpoint is out of rotation until its recovery time passes. */
export interface CircuitOpenEvent extends CircuitEvent {
  /** Consecutive trips without a recovery (1 on the first). */
  trips: number;
  /** When (ms from now) half-open trials start. */
  retryInMs: number;
}

/** Discovery could not refresh a service; the last known endpoints stay in force. */
export interface DiscoveryErrorEvent {
  service: string;
  error: Error;
}

/** A request in sidecar mode was delivered directly (or refused) because the sidecar was unreachable. */
export interface SidecarFallbackEvent {
  service: string;
  /** The sidecar's URL. */
  sidecar: string;
  /** Why: the connection error code, or `SIDECAR_DOWN` while the sidecar is presumed down. */
  reason: string;
  /** What happened to the request: delivered in-process, or failed. */
  action: 'direct' | 'none';
}

/** Every event a {@link MeshClient} emits, with its payload. */
export interface MeshEvents {
  endpoints: (e: EndpointsEvent) => void;
  attempt: (e: AttemptEvent) => void;
  retry: (e: RetryEvent) => void;
  'retry-budget-exhausted': (e: BudgetExhaustedEvent) => void;
  'circuit-open': (e: CircuitOpenEvent) => void;
  'circuit-half-open': (e: CircuitEvent) => void;
  'circuit-close': (e: CircuitEvent) => void;
  'discovery-error': (e: DiscoveryErrorEvent) => void;
  'sidecar-fallback': (e: SidecarFallbackEvent) => void;
  /** Outlier detection took an endpoint out of rotation. */
  ejected: (e: EjectedEvent) => void;
  /** An ejected endpoint's time is up: it is back in rotation. */
  unejected: (e: UnejectedEvent) => void;
  /** A routed request's destination had no endpoint in rotation: it went to the fallback. */
  'route-fallback': (e: RouteFallbackEvent) => void;
  /** A fault was injected into a request. */
  fault: (e: FaultEvent) => void;
  /** A hedged (backup) attempt was sent. */
  hedge: (e: HedgeEvent) => void;
  /** Overrides from the control plane (Consul KV) were applied. */
  'config-applied': (e: ConfigAppliedEvent) => void;
  /** A control-plane value was rejected; the last good configuration stays in force. */
  'config-rejected': (e: ConfigRejectedEvent) => void;
  /** The control plane could not be read; retried with backoff. */
  'control-plane-error': (e: ControlPlaneErrorEvent) => void;
}

/** The emitter behind `MeshClient.on()`. */
export class MeshEmitter extends EventEmitter<MeshEvents> {
  /** True when `event` has listeners, so hot paths build payloads only when needed. */
  wants(event: keyof MeshEvents): boolean {
    return this.listenerCount(event) > 0;
  }

  /**
   * An `emit(event, payload)` callback for a policy module's own event map (see `core/emit.ts`),
   * forwarding to this emitter's listeners, and building nothing when nobody listens.
   */
  bridge<
    Events extends { [K in keyof Events]: Parameters<MeshEvents[K & keyof MeshEvents]>[0] },
  >(): Emit<Events> {
    return (event, payload) => {
      const name = event as unknown as keyof MeshEvents;
      if (this.listenerCount(name) > 0) (this.emit as (e: string, p: unknown) => boolean)(name, payload);
    };
  }
}
