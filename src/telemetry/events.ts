/**
 * The mesh's events: each concern declares its own (name -> payload) and reports them through
 * an `EventSink` of just those; this file assembles them into the one map `MeshClient.on()`
 * takes, kebab-case, on eventemitter3.
 *
 * Emitting costs an object per event, so per-request events (`attempt`) are only built when
 * someone listens (see {@link MeshEmitter.wants}).
 */
import { EventEmitter } from 'eventemitter3';
import type { AuthzDeniedEvent, AuthzEvents } from '../authz/stage.js';
import type { AttemptEvent, BalanceEvents } from '../balance/filter.js';
import type { BreakerEvents, CircuitEvent, CircuitOpenEvent } from '../breaker/group.js';
import type {
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
} from '../control/consul-kv.js';
import type { EventSink } from '../core/events.js';
import type { FaultEvent, FaultEvents } from '../fault/fault.js';
import type { HandoffEvents, SidecarFallbackEvent } from '../handoff/handoff.js';
import type { HedgeEvent, HedgeEvents } from '../hedge/hedge.js';
import type { IdentityEvents, TlsErrorEvent, TlsRotatedEvent } from '../identity/source.js';
import type { DiscoveryErrorEvent, EndpointsEvent, ServiceEvents } from '../mesh/events.js';
import type { EjectedEvent, OutlierEvents, UnejectedEvent } from '../outlier/detector.js';
import type { BudgetExhaustedEvent, RetryEvent, RetryEvents } from '../retry/filter.js';
import type { RouteEvents, RouteFallbackEvent } from '../route/rules.js';

export type {
  AttemptEvent,
  AuthzDeniedEvent,
  BudgetExhaustedEvent,
  CircuitEvent,
  CircuitOpenEvent,
  ConfigAppliedEvent,
  ConfigRejectedEvent,
  ControlPlaneErrorEvent,
  DiscoveryErrorEvent,
  EjectedEvent,
  EndpointsEvent,
  FaultEvent,
  HedgeEvent,
  RetryEvent,
  RouteFallbackEvent,
  SidecarFallbackEvent,
  TlsErrorEvent,
  TlsRotatedEvent,
  UnejectedEvent,
};

/** The control plane's events. */
interface ControlEvents {
  /** Overrides from the control plane (Consul KV) were applied. */
  'config-applied': ConfigAppliedEvent;
  /** A control-plane value was rejected; the last good configuration stays in force. */
  'config-rejected': ConfigRejectedEvent;
  /** The control plane could not be read; retried with backoff. */
  'control-plane-error': ControlPlaneErrorEvent;
}

/** Every event the mesh emits, by name, with its payload. */
export interface MeshEventPayloads
  extends ServiceEvents,
    BalanceEvents,
    RetryEvents,
    BreakerEvents,
    OutlierEvents,
    RouteEvents,
    FaultEvents,
    HedgeEvents,
    HandoffEvents,
    ControlEvents,
    IdentityEvents,
    AuthzEvents {}

/** Every event a {@link MeshClient} emits, as the listener `on(event, listener)` takes. */
export type MeshEvents = { [K in keyof MeshEventPayloads]: (event: MeshEventPayloads[K]) => void };

type Listener<K extends keyof MeshEventPayloads> = (event: MeshEventPayloads[K]) => void;

/**
 * The emitter behind `MeshClient.on()`: typed listeners in, typed payloads out, on an
 * eventemitter3 emitter. Every part of the mesh reports to it as an `EventSink`.
 */
export class MeshEmitter implements EventSink<MeshEventPayloads> {
  readonly #emitter = new EventEmitter();

  on<K extends keyof MeshEventPayloads>(event: K, listener: Listener<K>): this {
    this.#emitter.on(event, listener);
    return this;
  }

  once<K extends keyof MeshEventPayloads>(event: K, listener: Listener<K>): this {
    this.#emitter.once(event, listener);
    return this;
  }

  /** Remove `listener`, or every listener of `event` when none is given. */
  off<K extends keyof MeshEventPayloads>(event: K, listener?: Listener<K>): this {
    this.#emitter.off(event, listener);
    return this;
  }

  emit<K extends keyof MeshEventPayloads>(event: K, payload: MeshEventPayloads[K]): void {
    this.#emitter.emit(event, payload);
  }

  /** True when `event` has listeners, so hot paths build payloads only when needed. */
  wants(event: keyof MeshEventPayloads): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }

  /** Listeners of `event`. */
  listenerCount(event: keyof MeshEventPayloads): number {
    return this.#emitter.listenerCount(event);
  }

  /** Drop every listener (the mesh closed). */
  removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
