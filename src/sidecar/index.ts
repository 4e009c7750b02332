/**
 * mesh-client/sidecar: run the mesh as a sidecar proxy from code (the `mesh-sidecar` binary
 * uses the same class).
 *
 * @module
 */

// The sidecar's config file is these options plus the keys of SidecarProcessOptions.
export type { MeshClientOptions } from '../options.js';
export {
  type Address,
  parseSidecarConfig,
  type SidecarConfig,
  type SidecarProcessOptions,
} from './config.js';
export { Sidecar, type SidecarStatsReport, startSidecar } from './sidecar.js';
export type { ServiceStats } from './stats.js';
