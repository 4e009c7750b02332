/**
 * How every part of the mesh reports events: through an {@link EventSink} typed by its own map of
 * event names to payloads, so a policy module depends on no emitter. The mesh's emitter
 * (`MeshEmitter`) is a sink for every event the mesh declares; a policy is handed it as a sink
 * of just its own events.
 *
 * `wants` lets a hot path skip building a payload nobody listens to.
 */

/** Receives the events of the map `Events` (event name -> payload). */
export interface EventSink<Events> {
  /** True when `event` has listeners (so the payload is worth building). */
  wants(event: keyof Events & string): boolean;
  /** Report one event. */
  emit<K extends keyof Events & string>(event: K, payload: Events[K]): void;
}

const NONE: EventSink<Record<string, unknown>> = { wants: () => false, emit: () => undefined };

/** A sink that drops everything (for parts used without a mesh, as in unit tests). */
export function noEvents<Events>(): EventSink<Events> {
  return NONE as EventSink<Events>;
}
