/**
 * The client side of sidecar mode: hand the request to a sidecar (ours, HAProxy, Envoy, any
 * proxy that routes by `Host`) with the logical service in `Host`, and notice cheaply when the
 * sidecar is not there. A refused connection to a loopback sidecar fails in microseconds; once
 * seen, the sidecar is skipped for `probeInterval` and the next request after that probes it
 * again, so a dead sidecar costs one failed connect per interval, not one per request.
 */
import axios, {
  type AxiosAdapter,
  AxiosHeaders,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import type { Call, Handler } from '../core/call.js';
import type { Clock } from '../core/clock.js';
import type { SidecarOptions } from '../options.js';
import { errorCode } from '../retry/policy.js';
import { abortWith } from './axios.js';

const httpAdapter: AxiosAdapter = axios.getAdapter('http');

/** Failures that prove the sidecar never saw the request, so delivering it elsewhere is safe. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND']);
/** Failures after which the sidecar may have seen the request. */
const RESET = new Set(['ECONNRESET', 'EPIPE']);

export class SidecarRoute {
  #downUntil = Number.NEGATIVE_INFINITY;
  readonly #base: string;

  constructor(
    readonly service: string,
    readonly options: Required<SidecarOptions>,
    private readonly clock: Clock,
  ) {
    this.#base = options.url.endsWith('/') ? options.url.slice(0, -1) : options.url;
  }

  /** False while the sidecar is presumed down (until the next probe is due). */
  get up(): boolean {
    return this.clock.now() >= this.#downUntil;
  }

  /**
   * Whether a failed hand-off may be delivered another way, and why: a refused connection
   * (the sidecar is down: remembered until the next probe), or a reset connection for a request
   * that is safe to send twice (a keep-alive socket the sidecar closed as it went away).
   */
  fallbackReason(error: unknown, call: Call<unknown>): string | undefined {
    const code = errorCode(error);
    if (code === undefined) return undefined;
    if (UNREACHABLE.has(code)) {
      this.#downUntil = this.clock.now() + this.options.probeInterval;
      return code;
    }
    return RESET.has(code) && call.idempotent && call.replayable && !call.signal.aborted ? code : undefined;
  }

  /** The transport: the axios http adapter pointed at the sidecar, the service in `Host`. */
  readonly transport: Handler<InternalAxiosRequestConfig, AxiosResponse> = (
    call: Call<InternalAxiosRequestConfig>,
  ) => {
    const config = call.request;
    return httpAdapter({
      ...config,
      baseURL: this.#base + (config.baseURL ?? ''),
      headers: AxiosHeaders.from(config.headers)
        .set(call.headers ?? {})
        .set('Host', this.service),
      ...abortWith(call.signal),
      timeout: 0,
      validateStatus: null,
    });
  };
}
