/**
 * Pointing the demo at your own services: a JSON file (`--config bench/my-services.json`) naming
 * the service, where its endpoints come from (static URLs or Consul, exactly the `discovery`
 * option of MeshClient), the request mix, and the mesh policy the fat client and mesh-sidecar run
 * with. See bench/scenarios/services.example.json and docs/compare.md.
 *
 * Without a config the demo builds its own fleet on loopback and injects failures; with one it
 * sends the mix to your endpoints and injects nothing.
 */
import { readFileSync } from 'node:fs';
import { MeshClient, type MeshClientOptions } from 'mesh-client';
import { z } from 'zod';
import type { ApproachKind, RequestTemplate } from '../harness/protocol.js';

const APPROACHES = [
  'bare-axios',
  'bare-undici',
  'fat-client',
  'fat-client-undici',
  'mesh-sidecar',
  'node-proxy',
  'haproxy',
] as const;

const configSchema = z.strictObject({
  service: z.string().min(1).describe('The logical service every request goes to.'),
  discovery: z
    .union([
      z.strictObject({
        static: z.record(z.string(), z.array(z.union([z.string(), z.object({ url: z.string() })]))),
      }),
      z.strictObject({ consul: z.record(z.string(), z.unknown()) }),
    ])
    .describe('MeshClient discovery option: { static: { service: [urls] } } or { consul: {...} }.'),
  requests: z
    .array(
      z.strictObject({
        method: z.string().default('GET'),
        path: z.string().startsWith('/'),
        weight: z.number().positive().default(1),
        body: z.unknown().optional(),
        headers: z.record(z.string(), z.string()).optional(),
      }),
    )
    .min(1)
    .default([{ method: 'GET', path: '/', weight: 1 }]),
  mesh: z.record(z.string(), z.unknown()).default({}).describe('MeshClient policy options (no discovery).'),
  approaches: z.array(z.enum(APPROACHES)).min(1).optional(),
  concurrency: z.number().int().min(1).max(1024).optional(),
  duration: z.number().positive().max(3600).optional().describe('Seconds measured per approach.'),
  timeoutMs: z
    .number()
    .positive()
    .optional()
    .describe('Caller-side timeout; default the policy total or 15 s.'),
});

/** A validated config file. */
export interface ServicesConfig {
  service: string;
  discovery: Record<string, unknown>;
  requests: RequestTemplate[];
  mesh: Record<string, unknown>;
  approaches: ApproachKind[] | undefined;
  concurrency: number | undefined;
  duration: number | undefined;
  timeoutMs: number | undefined;
}

/** Read and validate a config file; the message names the bad field. */
export function loadConfig(file: string): ServicesConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${file}: ${issues.join('; ')}`);
  }
  const c = parsed.data;
  if ('discovery' in c.mesh) throw new Error(`${file}: mesh.discovery: put discovery at the top level`);
  return {
    service: c.service,
    discovery: c.discovery,
    requests: c.requests.map((r) => ({ ...r, method: r.method.toUpperCase() })),
    mesh: c.mesh,
    approaches: c.approaches,
    concurrency: c.concurrency,
    duration: c.duration,
    timeoutMs: c.timeoutMs,
  };
}

/**
 * The endpoint URLs discovery knows for the service now: what the bare clients round-robin over
 * and what HAProxy is configured with (neither follows later changes).
 */
export async function resolveUrls(config: ServicesConfig): Promise<string[]> {
  const mesh = new MeshClient({ discovery: config.discovery as MeshClientOptions['discovery'] });
  try {
    const urls: string[] = [];
    const subscription = mesh.discovery.subscribe(config.service, (endpoints) => {
      urls.splice(0, urls.length, ...endpoints.map((e) => e.url));
    });
    await subscription.ready;
    subscription.close();
    if (urls.length === 0) throw new Error(`discovery knows no endpoint of "${config.service}"`);
    return urls;
  } finally {
    await mesh.close();
  }
}
