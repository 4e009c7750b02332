/** The `transport` option: how the fat client sends. */
import { z } from 'zod';

/**
 * The `transport` option. `'axios'`: axios's own http adapter; `'undici'`: an undici pool under
 * the same axios API (interceptors, transforms and errors unchanged; much less CPU per request).
 * The sidecar always forwards with undici.
 */
export const transportOption = z.enum(['axios', 'undici']).default('axios');
