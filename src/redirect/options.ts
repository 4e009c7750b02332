/** The `redirects` option: which redirects the fat client follows, and how many. */
import { z } from 'zod';

const redirectsSchema = z.strictObject({
  /**
   * Which redirects are followed: `'same-origin'`, those that stay on the endpoint the request
   * was sent to (a relative `Location`, the endpoint's own origin, or the host the request's
   * `Host` header named); `'any'`, wherever the `Location` says, as plain axios does (the hop
   * then leaves the mesh: no balancing, breaker or retry applies to that host); `'none'`, the
   * 3xx is the response. A redirect the policy does not follow fails with
   * `MESH_REDIRECT_REFUSED`.
   */
  follow: z.enum(['same-origin', 'any', 'none']).default('same-origin'),
  /**
   * Most redirects one request follows (axios's default); a request's own `maxRedirects`
   * replaces it. Past it, axios's `ERR_FR_TOO_MANY_REDIRECTS`.
   */
  max: z.number().int().min(0).max(1_000).default(21),
});

/** The `redirects` option. */
export const redirectsOption = redirectsSchema.prefault({});

/**
 * Redirect following.
 * @interface
 */
export type RedirectsOptions = z.input<typeof redirectsSchema>;

/** The redirect policy in force for a service. */
export type RedirectsPolicy = z.output<typeof redirectsSchema>;
