/** The `mode` and `sidecar` options: who delivers a service's requests, and through which sidecar. */
import { z } from 'zod';

const sidecarSchema = z.strictObject({
  /** Where the sidecar listens; the service goes in the `Host` header. */
  url: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:15001'),
  /**
   * When the sidecar cannot be reached: `'direct'` delivers in-process (discovery, balancing,
   * retries of this client), `'none'` fails with `MESH_SIDECAR_UNREACHABLE`.
   */
  fallback: z.enum(['direct', 'none']).default('direct'),
  /** After the sidecar was found unreachable, how long (ms) to go direct before trying it again. */
  probeInterval: z.number().positive().finite().default(5_000),
});

/**
 * The `mode` option: `'direct'` runs the mesh in this process; `'sidecar'` hands each request to
 * the sidecar, which runs discovery, balancing, breaking and retries instead.
 */
export const modeOption = z.enum(['direct', 'sidecar']).default('direct');

/** The `sidecar` option: the sidecar used in `'sidecar'` mode. */
export const sidecarOption = sidecarSchema.prefault({});

/**
 * The sidecar a client in `mode: 'sidecar'` sends through.
 * @interface
 */
export type SidecarOptions = z.input<typeof sidecarSchema>;

/** The sidecar settings in force for a service. */
export type SidecarPolicy = z.output<typeof sidecarSchema>;
