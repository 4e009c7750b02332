/**
 * Open the TLS material source the `tls` option names: PEM text given inline, files re-read on
 * change, or Consul Connect's CA. Also the cross-check of `mtls` against `tls`: a service whose
 * endpoints must all be dialed with mutual TLS needs an identity to present.
 */
import type { Clock } from '../core/clock.js';
import type { EventSink } from '../core/events.js';
import type { ConsulConnectionOptions } from '../discovery/consul/connection.js';
import { MeshError } from '../errors/mesh-error.js';
import { ConsulCaSource } from './consul-ca.js';
import { FileSource, isPemText, type PartSources } from './files.js';
import { buildMaterial } from './material.js';
import type { MtlsPolicy, TlsPolicy } from './options.js';
import { type IdentityEvents, type IdentitySource, InlineSource } from './source.js';
import { IdentityPattern } from './spiffe.js';

/** What opening a source needs of the mesh. */
export interface OpenContext {
  clock: Clock;
  random: () => number;
  events: EventSink<IdentityEvents>;
  /** The agent a `tls.consul` block without an address talks to (discovery's). */
  defaultConnection?: ConsulConnectionOptions | undefined;
}

/**
 * The source for `tls`. Inline text and files are read and checked now: a problem throws
 * `MESH_BAD_OPTIONS` naming `options.tls.<part>`.
 */
export function openIdentity(tls: TlsPolicy, ctx: OpenContext, root = 'options.tls'): IdentitySource {
  const expected = tls.identity === undefined ? undefined : new IdentityPattern(tls.identity);
  if (tls.consul) {
    return new ConsulCaSource(tls.consul, {
      clock: ctx.clock,
      random: ctx.random,
      events: ctx.events,
      expected,
      initialTimeout: tls.initialTimeout,
      defaultConnection: ctx.defaultConnection,
    });
  }
  const parts = {} as PartSources;
  for (const part of ['cert', 'key', 'ca'] as const) {
    const value = tls[part]!;
    parts[part] = isPemText(value) ? { text: value } : { path: value };
  }
  if ('text' in parts.cert && 'text' in parts.key && 'text' in parts.ca) {
    const material = buildMaterial(
      { cert: parts.cert.text, key: parts.key.text, ca: parts.ca.text },
      expected,
    );
    if (typeof material === 'string') {
      const part = material.startsWith('key:') ? 'key' : material.startsWith('trust bundle:') ? 'ca' : 'cert';
      throw new MeshError('MESH_BAD_OPTIONS', `${root}.${part}: ${material}`);
    }
    return new InlineSource(material, ctx.clock, ctx.events);
  }
  return new FileSource(
    parts,
    { clock: ctx.clock, events: ctx.events, pollInterval: tls.pollInterval, expected },
    root,
  );
}

/**
 * Refuse, at construction, `mtls.mode: 'on'` (globally or for a service) without `tls`: every
 * request to such a service would fail for want of a certificate.
 */
export function checkMtls(
  options: {
    tls?: TlsPolicy | undefined;
    mtls: MtlsPolicy;
    services: Record<string, { mtls?: { mode?: string } }>;
  },
  root = 'options',
): void {
  if (options.tls) return;
  const bad =
    options.mtls.mode === 'on'
      ? 'mtls.mode'
      : Object.entries(options.services).find(([, s]) => s.mtls?.mode === 'on')?.[0];
  if (bad === undefined) return;
  const path = bad === 'mtls.mode' ? `${root}.mtls.mode` : `${root}.services.${bad}.mtls.mode`;
  throw new MeshError('MESH_BAD_OPTIONS', `${path}: 'on' needs ${root}.tls (a certificate to present)`);
}
