/**
 * How policy modules report events without depending on the client's emitter: they take an
 * `emit(event, payload)` callback typed by their own map of event names to payloads. The
 * client's `MeshEmitter` fits once those events are declared in its `MeshEvents`:
 * `(event, payload) => events.emit(event, payload)`.
 */

/** Reports one event of the map `Events` (event name -> payload). */
export type Emit<Events> = <K extends keyof Events & string>(event: K, payload: Events[K]) => void;
