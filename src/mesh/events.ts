/** The events of a service's endpoint set: what discovery changed, and what it could not refresh. */
import type { EndpointSnapshot } from '../core/endpoint.js';

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

/** Discovery could not refresh a service; the last known endpoints stay in force. */
export interface DiscoveryErrorEvent {
  service: string;
  /** What went wrong; a `MeshError` (`code` `MESH_DISCOVERY_UNAVAILABLE`) or the source's own error. */
  error: Error & { code?: string };
}

/** The events of a service's endpoint set. */
export interface ServiceEvents {
  endpoints: EndpointsEvent;
  'discovery-error': DiscoveryErrorEvent;
}
