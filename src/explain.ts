/**
 * Which layer applies which part of a service's policy.
 *
 * With a fat client and a sidecar both able to run the same policy, a setting can be in force
 * in one layer, in the other, or silently in neither (an app's retry setting while the sidecar
 * does the retrying; axios defaults in a sidecar config, which has no axios). `explain` spells
 * it out per service, for `MeshClient.explain()` and the sidecar's `/stats`, so nothing is
 * dropped without a word.
 */
import type { ResolvedOptions, ServicePolicy } from './options.js';

/** Where a part of the policy runs. */
export type Layer = 'client' | 'sidecar' | 'none';

/** One part of the policy: where it runs and with what setting. */
export interface PolicyPart {
  layer: Layer;
  /** The setting in force, as this process sees it (`undefined` when another layer owns it). */
  setting?: unknown;
  /** Why, when it is not plain. */
  note?: string;
}

/** A service's policy by layer, as seen from one process. */
export interface PolicyReport {
  service: string;
  /** Which process this report comes from. */
  position: 'client' | 'sidecar';
  /** Delivery mode in force for the service (the client's `mode`; always `direct` in a sidecar). */
  mode: 'direct' | 'sidecar';
  parts: {
    discovery: PolicyPart;
    loadBalancer: PolicyPart;
    circuitBreaker: PolicyPart;
    retry: PolicyPart;
    totalTimeout: PolicyPart;
    perTryTimeout: PolicyPart;
    deadlinePropagation: PolicyPart;
    retryStacking: PolicyPart;
    routing: PolicyPart;
    faults: PolicyPart;
    rateLimit: PolicyPart;
    concurrencyLimit: PolicyPart;
    hedging: PolicyPart;
    outlierDetection: PolicyPart;
  };
  /** Options given for this service that this process does not apply, and why. */
  ignored: Array<{ option: string; reason: string }>;
}

function discoveryKind(options: ResolvedOptions): string {
  const d = options.discovery;
  if ('subscribe' in d) return 'custom';
  return 'consul' in d ? 'consul' : 'static';
}

/** The traffic-governance parts, each off (`false`) unless configured. */
function governance(policy: ServicePolicy) {
  const { routing } = policy;
  const routed = routing.rules.length > 0 || routing.default !== undefined || routing.zone !== false;
  return {
    routing: routed ? routing : false,
    faults: policy.faults,
    rateLimit: policy.limits.rate,
    concurrencyLimit: policy.limits.concurrency,
    hedging: policy.hedge,
    outlierDetection: policy.outlierDetection,
  };
}

function own(layer: Layer, setting: unknown, note?: string): PolicyPart {
  return setting === false
    ? { layer: 'none', setting, note: note ?? 'disabled' }
    : { layer, setting, ...(note ? { note } : {}) };
}

/** The report for `service` under `policy`, from a client or a sidecar process. */
export function explain(
  service: string,
  policy: ServicePolicy,
  options: ResolvedOptions,
  position: 'client' | 'sidecar',
): PolicyReport {
  const ignored: PolicyReport['ignored'] = [];
  const path = (name: string) => (options.services[service] ? `services.${service}.${name}` : name);
  const { timeout, retry } = policy;
  const propagation = own(
    position,
    timeout.propagate,
    timeout.propagate ? 'x-mesh-deadline-ms sent per attempt' : undefined,
  );
  const stacking =
    retry === false
      ? own('none', false)
      : { layer: position, setting: retry.stacking, note: 'x-mesh-attempts from a layer below' };

  if (position === 'sidecar') {
    if (policy.mode === 'sidecar')
      ignored.push({ option: path('mode'), reason: 'a sidecar delivers directly' });
    if (Object.keys(policy.axios).length > 0) {
      ignored.push({
        option: path('axios'),
        reason: 'the sidecar forwards with undici; axios defaults do not apply',
      });
    }
  }

  if (position === 'client' && policy.mode === 'sidecar') {
    const fallback = policy.sidecar.fallback;
    const onFallback = fallback === 'direct';
    const local = (name: string, setting: unknown, optional = false): PolicyPart => {
      // Governance parts are off unless configured: only a configured one is reported as ignored.
      if (!onFallback && !(optional && setting === false))
        ignored.push({
          option: path(name),
          reason: "mode 'sidecar' with fallback 'none': the sidecar applies its own",
        });
      return {
        layer: 'sidecar',
        ...(onFallback ? { setting } : {}),
        note: onFallback
          ? 'this setting applies here only when falling back to direct'
          : 'set in the sidecar config',
      };
    };
    return {
      service,
      position,
      mode: 'sidecar',
      parts: {
        discovery: local('discovery', discoveryKind(options)),
        loadBalancer: local('loadBalancer', policy.loadBalancer),
        circuitBreaker: local('circuitBreaker', policy.circuitBreaker),
        retry: local('retry', retry),
        totalTimeout: own(
          'client',
          timeout.total,
          timeout.propagate ? 'propagated to the sidecar' : 'not propagated',
        ),
        perTryTimeout: local('timeout.perTry', timeout.perTry),
        deadlinePropagation: propagation,
        retryStacking: { layer: 'sidecar', note: 'the client does not retry in sidecar mode' },
        ...(Object.fromEntries(
          Object.entries(governance(policy)).map(([name, setting]) => [name, local(name, setting, true)]),
        ) as Record<keyof ReturnType<typeof governance>, PolicyPart>),
      },
      ignored,
    };
  }

  return {
    service,
    position,
    mode: 'direct',
    parts: {
      discovery: own(position, discoveryKind(options)),
      loadBalancer: own(position, policy.loadBalancer),
      circuitBreaker: own(position, policy.circuitBreaker),
      retry: own(position, retry),
      totalTimeout: own(position, timeout.total),
      perTryTimeout: own(position, timeout.perTry),
      deadlinePropagation: propagation,
      retryStacking: stacking,
      ...(Object.fromEntries(
        Object.entries(governance(policy)).map(([name, setting]) => [name, own(position, setting)]),
      ) as Record<keyof ReturnType<typeof governance>, PolicyPart>),
    },
    ignored,
  };
}
