/** The events of a service's endpoint set: what discovery changed, and what it could not refresh. */
import type { EndpointSnapshot } from '../core/endpoint.js';
import type { MeshError } from '../errors/mesh-error.js';

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

/**
 * Discovery could not refresh a service, or a self-registration failed; the last known endpoints
 * (and the registration) stay in force and the source keeps trying.
 */
export interface DiscoveryErrorEvent {
  /** The service watched, or the registered service's name. */
  service: string;
  /**
   * What went wrong: `MESH_DISCOVERY_UNAVAILABLE` (a failed read or watch, the source's error as
   * `cause`; ACL filtering; whatever a `Discovery` of your own hands its `onError`, as `cause`), or
   * `MESH_BAD_OPTIONS` (an agent refused a registration, saying why).
   */
  error: MeshError;
}

/** The events of a service's endpoint set. */
export interface ServiceEvents {
  endpoints: EndpointsEvent;
  'discovery-error': DiscoveryErrorEvent;
}
