/**
 * Which layer applies which part of a service's policy, read from the stage table.
 *
 * With a fat client and a sidecar both able to run the same policy, a setting can be in force
 * in one layer, in the other, or silently in neither (an app's retry setting while the sidecar
 * does the retrying; axios defaults in a sidecar config, which has no axios). `explain` spells
 * it out per service, for `MeshClient.explain()` and the sidecar's `/stats`, one part per option
 * as users write it, so nothing is dropped without a word.
 */
import type { ResolvedOptions, ServicePolicy } from '../options/index.js';
import { redirectsOption } from '../redirect/options.js';
import type { PositionName } from './position.js';
import { type PolicyPath, STACK, type Stage, type StageOption } from './stack.js';

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
  position: PositionName;
  /** Delivery mode in force for the service (the client's `mode`; always `direct` in a sidecar). */
  mode: 'direct' | 'sidecar';
  /** One part per option, by its path as users write it (`retry`, `timeout.perTry`, `limits.rate`). */
  parts: Record<PolicyPath, PolicyPart>;
  /** Options given for this service that this process does not apply, and why. */
  ignored: Array<{ option: string; reason: string }>;
}

const DEFAULT_REDIRECTS = redirectsOption.parse(undefined);

/** What a part says beyond its layer and setting, when it is in force here. */
const NOTES: Readonly<Partial<Record<PolicyPath, (setting: unknown) => string | undefined>>> = {
  'timeout.propagate': (on) => (on ? 'x-mesh-deadline-ms sent per attempt' : undefined),
  'retry.stacking': () => 'x-mesh-attempts from a layer below',
};

function own(layer: Layer, setting: unknown, note?: string): PolicyPart {
  return setting === false
    ? { layer: 'none', setting, note: note ?? 'disabled' }
    : { layer, setting, ...(note ? { note } : {}) };
}

/** Every option of the table, with the stage that applies it, in table order. */
function optionsOf(stages: readonly Stage[]): Array<[Stage, StageOption]> {
  return stages.flatMap((stage) => stage.options.map((o): [Stage, StageOption] => [stage, o]));
}

/** The report for `service` under `policy`, from a client or a sidecar process. */
export function explain(
  service: string,
  policy: ServicePolicy,
  options: ResolvedOptions,
  position: PositionName,
): PolicyReport {
  const ignored: PolicyReport['ignored'] = [];
  const path = (name: string) =>
    Object.hasOwn(options.services, service) ? `services.${service}.${name}` : name;
  const parts = {} as Record<PolicyPath, PolicyPart>;
  const viaSidecar = position === 'client' && policy.mode === 'sidecar';
  const onFallback = policy.sidecar.fallback === 'direct';

  for (const [stage, option] of optionsOf(STACK)) {
    const setting = option.setting(policy, options);
    const note = NOTES[option.path]?.(setting);
    if (stage.role === 'sidecar-handoff') {
      // A sidecar delivers directly: its own `mode` and `sidecar` settings mean nothing there.
      parts[option.path] =
        position === 'sidecar'
          ? { layer: 'none', note: 'a sidecar delivers directly' }
          : own('client', setting, note);
    } else if (!viaSidecar) {
      parts[option.path] = own(position, setting, note);
    } else if (stage.layer === 'caller') {
      const caller =
        option.path === 'timeout.total'
          ? policy.timeout.propagate
            ? 'propagated to the sidecar'
            : 'not propagated'
          : note;
      parts[option.path] = own('client', setting, caller);
    } else {
      // Delivery runs in the sidecar; here it runs only when falling back to direct.
      if (!onFallback && setting !== false) {
        ignored.push({
          option: path(option.path),
          reason: "mode 'sidecar' with fallback 'none': the sidecar applies its own",
        });
      }
      parts[option.path] = {
        layer: 'sidecar',
        ...(onFallback ? { setting } : {}),
        note: onFallback
          ? 'this setting applies here only when falling back to direct'
          : 'set in the sidecar config',
      };
    }
  }

  if (position === 'sidecar') {
    if (policy.mode === 'sidecar')
      ignored.unshift({ option: path('mode'), reason: 'a sidecar delivers directly' });
    if (Object.keys(policy.axios).length > 0) {
      ignored.push({
        option: path('axios'),
        reason: 'the sidecar forwards with undici; axios defaults do not apply',
      });
    }
    const { follow, max } = policy.redirects;
    if (follow !== DEFAULT_REDIRECTS.follow || max !== DEFAULT_REDIRECTS.max) {
      ignored.push({
        option: path('redirects'),
        reason: 'the sidecar passes a redirect back to its client, whose own redirect policy follows it',
      });
    }
  }

  return { service, position, mode: viaSidecar ? 'sidecar' : 'direct', parts, ignored };
}
