/** The `axios` option: axios defaults for every request of the fat client. */
import { z } from 'zod';

/** The `axios` option: axios defaults (headers, params, auth, ...) for every request; the adapter is the mesh's. */
export const axiosOption = z
  .record(z.string(), z.unknown())
  .refine((o) => !('adapter' in o), { message: 'the mesh is the adapter; set no adapter' })
  .default({});
