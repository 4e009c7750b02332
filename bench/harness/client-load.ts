/**
 * The client process `npm run bench:profile` profiles: bare axios, or the fat client
 * (`mesh.service()` on axios's http adapter, library defaults), sending GETs in a closed loop to
 * one upstream. V8's profiler (node:inspector) runs only over the measured requests, after the
 * warm-up, so module loading and the first, interpreted requests stay out of the figures.
 *
 * argv: `bare-axios` | `fat-client`, the upstream URL, concurrency, warm-up requests, measured
 * requests, the file to write the `.cpuprofile` to.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import axios from 'axios';
import { MeshClient } from 'mesh-client';

const [approach, upstream, concurrency, warmup, requests, out] = process.argv.slice(2);
if (!upstream || !out || (approach !== 'bare-axios' && approach !== 'fat-client')) {
  throw new Error(
    'usage: client-load <bare-axios|fat-client> <url> <concurrency> <warm-up> <requests> <out>',
  );
}
const agent = new http.Agent({ keepAlive: true });
const bare = axios.create({ httpAgent: agent, timeout: 15_000 });
const mesh = new MeshClient({ discovery: { static: { users: [upstream] } } });
const users = mesh.service('users');
const send =
  approach === 'bare-axios' ? () => bare.get(`${upstream}/users/42`) : () => users.get('/users/42');

async function run(count: number): Promise<void> {
  let left = count;
  const worker = async () => {
    while (left-- > 0) {
      const res = await send();
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: Number(concurrency) }, worker));
}

await run(Number(warmup));
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
await run(Number(requests));
const { profile } = await session.post('Profiler.stop');
session.disconnect();
writeFileSync(out, JSON.stringify(profile));
await mesh.close();
agent.destroy();
