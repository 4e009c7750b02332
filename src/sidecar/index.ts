/**
 * mesh-client/sidecar: run the mesh as a sidecar proxy from code (the `mesh-sidecar` binary
 * uses the same class).
 *
 * @module
 */

export {
  type Address,
  parseSidecarConfig,
  type SidecarConfig,
  type SidecarProcessOptions,
} from './config.js';
export { Sidecar, type SidecarStatsReport, startSidecar } from './sidecar.js';
export type { ServiceStats } from './stats.js';
