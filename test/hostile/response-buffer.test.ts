/**
 * `responseBufferBytes`: a GET whose upstream resets mid-body is retried on another endpoint
 * (the body was read within the attempt, before any byte went to the client); with `0`, or a
 * body larger than the bound, the client's response is cut instead; POSTs are never buffered
 * nor retried. The bytes held go back to the buffer budget.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../testkit/lifecycle.js';
import { fleet } from '../chaos/fleet.js';
import { raw, sidecarFor } from '../support/sidecar.js';

const open = closeAfterEach();

async function setup(options: Record<string, unknown>) {
  const { servers, ledger } = await fleet(2);
  servers[0]!.mode = { kind: 'reset-mid-body' };
  const sidecar = await sidecarFor({
    discovery: { static: { users: servers.map((s) => s.url) } },
    loadBalancer: 'round-robin',
    circuitBreaker: false,
    ...options,
  });
  open.push(...servers, sidecar);
  return { servers, ledger, sidecar };
}

describe('responseBufferBytes', () => {
  it('a GET cut mid-body by one endpoint is answered whole by the other', async () => {
    const { sidecar, ledger } = await setup({});
    for (let i = 0; i < 6; i++) {
      const res = await raw(sidecar.address, `/r${i}`, { headers: { host: 'users' } });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body).server).toBe('s1');
    }
    // Round-robin: each first attempt goes to s0 (the retry moved the turn on to s1), then to s1.
    expect(ledger.received).toBe(12);
    expect(sidecar.report().bufferedBytes).toBe(0);
  });

  it('0: the response streams, and the client sees the cut', async () => {
    const { sidecar } = await setup({ responseBufferBytes: 0 });
    const outcomes = await Promise.all(
      [0, 1].map((i) =>
        raw(sidecar.address, `/r${i}`, { headers: { host: 'users' } }).then(
          () => 'whole',
          (e: Error) => e.message,
        ),
      ),
    );
    expect(outcomes).toContain('whole');
    expect(outcomes.filter((o) => o !== 'whole')).toEqual([
      expect.stringMatching(/aborted|socket hang up|ECONNRESET/),
    ]);
  });

  it('a POST is not buffered, so not retried: the cut reaches the client once', async () => {
    const { sidecar, ledger } = await setup({});
    const outcomes = await Promise.all(
      [0, 1].map((i) =>
        raw(sidecar.address, `/p${i}`, {
          method: 'POST',
          headers: { host: 'users', 'x-chaos-id': `p${i}` },
          body: '{}',
        }).then(
          () => 'whole',
          () => 'cut',
        ),
      ),
    );
    expect(outcomes.sort()).toEqual(['cut', 'whole']);
    expect(ledger.duplicates()).toEqual([]);
    expect(ledger.received).toBe(2);
  });

  it('must fit the buffer budget', async () => {
    await expect(sidecarFor({ responseBufferBytes: 2_000, bufferBudgetBytes: 1_000 })).rejects.toThrow(
      'options.responseBufferBytes: must not exceed bufferBudgetBytes',
    );
  });
});
