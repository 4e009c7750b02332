/**
 * mesh-client/sidecar: run the mesh as a sidecar proxy from code (the `mesh-sidecar` binary
 * uses the same class).
 *
 * @module
 */

// The sidecar's config file is these options plus the keys of SidecarProcessOptions.
export type { AuthorizationOptions, AuthorizationRule } from '../authz/options.js';
export type { MeshClientOptions } from '../options/index.js';
export type { InboundReport } from './inbound/inbound.js';
export type { InboundOptions } from './inbound/options.js';
export {
  type Address,
  parseSidecarConfig,
  type SidecarConfig,
  type SidecarConfigFile,
  type SidecarProcessOptions,
} from './options.js';
export { Sidecar, type SidecarStatsReport, startSidecar } from './sidecar.js';
export type { ServiceStats } from './stats.js';
