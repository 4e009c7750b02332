/**
 * The soak's child processes, one role each (argv[2]), driven over IPC by bench/soak.ts:
 *
 * - `fleet`: three loopback upstreams (the test suite's `Upstream`, counting, not recording)
 *   whose behaviour the soak switches to inject failures (503 bursts, resets, slowness);
 * - `sidecar`: one mesh-sidecar over that fleet, whose heap (after a forced GC), RSS and
 *   active handles the soak samples, so the sidecar position is measured apart from its load.
 *
 * Run with `--expose-gc`: a heap sample is taken right after `global.gc()`.
 */
import { Sidecar } from 'mesh-client/sidecar';
import { Upstream } from '../../testkit/upstream.js';
import { type Sample, sample, settled, type ToChild } from './soak-sample.js';

async function fleetRole(): Promise<void> {
  const ups = await Promise.all(
    [0, 1, 2].map((i) => Upstream.start(`u${i}`, { kind: 'ok' }, { record: false })),
  );
  process.send!({ ready: true, urls: ups.map((u) => u.url) });
  process.on('message', async (m: ToChild) => {
    if (m.cmd === 'behaviour') ups[m.index]!.behaviour = m.behaviour;
    if (m.cmd === 'sample') process.send!({ sample: sample(), received: ups.map((u) => u.count) });
    if (m.cmd === 'close') {
      await Promise.all(ups.map((u) => u.close()));
      process.send!({ closed: true });
      process.disconnect();
    }
  });
}

async function sidecarRole(config: string): Promise<void> {
  const sidecar = await new Sidecar(JSON.parse(config)).start();
  // The baseline after what this process holds anyway: stdout/stderr open their pipes on first
  // use, and the IPC channel counts as active once it has a 'message' listener (below).
  void [process.stdout, process.stderr];
  let before: Sample | undefined;
  process.on('message', async (m: ToChild) => {
    if (m.cmd === 'sample') process.send!({ sample: sample(), refused: sidecar.report().refused });
    if (m.cmd === 'close') {
      await sidecar.close();
      // What is left once the sidecar closed: the IPC channel, and nothing of the sidecar's.
      process.send!({ closed: true, after: await settled(before!) });
      process.disconnect();
    }
  });
  before = sample();
  process.send!({ ready: true, address: sidecar.address, before });
}

const role = process.argv[2];
if (role === 'fleet') await fleetRole();
else if (role === 'sidecar') await sidecarRole(process.argv[3]!);
else throw new Error(`unknown role ${role}`);
