/**
 * The upstream fleet: real node:http servers on loopback (the test suite's {@link Upstream},
 * counting instead of recording), one per endpoint, each with a behaviour that scenarios switch
 * mid-run (`ok`, `slow`, `hang`, `status`, ...) or kill outright (the port then refuses
 * connections). It runs in the orchestrator process, so its CPU is never charged to the client
 * or the sidecar being measured.
 *
 * Every run gets a fresh fleet (new servers, new ports, zeroed counters); the fleet also counts
 * every request its servers received, so load amplification (upstream requests per client
 * request) can be measured for every approach the same way.
 */
import { type Behaviour, Upstream } from '../../testkit/upstream.js';

export type { Behaviour };

/** One endpoint of the fleet and how it starts. */
export interface EndpointSpec {
  name: string;
  behaviour?: Behaviour;
}

export class Fleet {
  readonly #members = new Map<string, Upstream>();
  /** Requests received by endpoints that were killed or removed (their counts outlive them). */
  #retired = 0;

  private constructor() {}

  /** Start one server per spec on 127.0.0.1, each on a free port. */
  static async start(specs: readonly EndpointSpec[]): Promise<Fleet> {
    const fleet = new Fleet();
    try {
      for (const spec of specs) await fleet.add(spec.name, spec.behaviour);
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  /** Start another endpoint; resolves with its URL. */
  async add(name: string, behaviour?: Behaviour): Promise<string> {
    if (this.#members.has(name)) throw new Error(`fleet: duplicate endpoint ${name}`);
    const up = await Upstream.start(name, behaviour, { record: false });
    this.#members.set(name, up);
    return up.url;
  }

  /** URLs of the endpoints alive, in the order they were added. */
  get urls(): string[] {
    return [...this.#members.values()].map((u) => u.url);
  }

  /** Names of the endpoints alive. */
  get names(): string[] {
    return [...this.#members.keys()];
  }

  url(name: string): string {
    return this.#get(name).url;
  }

  /** Switch an endpoint's behaviour; requests already in flight keep the old one. */
  set(name: string, behaviour: Behaviour): void {
    this.#get(name).behaviour = behaviour;
  }

  /** Kill an endpoint: in-flight requests are cut and its port refuses connections from now on. */
  async kill(name: string): Promise<void> {
    const up = this.#get(name);
    this.#members.delete(name);
    this.#retired += up.count;
    await up.close();
  }

  /** Requests received by every endpoint so far, the killed ones included. */
  get received(): number {
    let total = this.#retired;
    for (const up of this.#members.values()) total += up.count;
    return total;
  }

  /** Requests received per live endpoint. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#members].map(([name, up]) => [name, up.count]));
  }

  async close(): Promise<void> {
    const ups = [...this.#members.values()];
    this.#members.clear();
    await Promise.all(ups.map((u) => u.close()));
  }

  #get(name: string): Upstream {
    const up = this.#members.get(name);
    if (!up) throw new Error(`fleet: no endpoint ${name}`);
    return up;
  }
}
