/**
 * The scratch applications of the packaging test, as a user would write them: each reads the
 * upstream (and, where used, the Consul agent) from the environment and prints what it got.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** An ES module consumer. */
const ESM = `import { MeshClient } from 'mesh-client';
const mesh = new MeshClient({ discovery: { static: { users: [process.env.UPSTREAM] } } });
const { data } = await mesh.service('users').get('/users/42');
console.log(JSON.stringify({ kind: 'esm', data }));
await mesh.close();
`;

/** A CommonJS consumer: require() of the ES module package. */
const CJS = `const { MeshClient, isMeshError } = require('mesh-client');
const mesh = new MeshClient({ discovery: { static: { users: [process.env.UPSTREAM] } } });
mesh
  .service('users')
  .get('/users/42')
  .then(({ data }) => console.log(JSON.stringify({ kind: 'cjs', data, isMeshError: typeof isMeshError })))
  .finally(() => mesh.close());
`;

/**
 * A TypeScript consumer, compiled to CommonJS and to ESM: the documented event payloads must
 * type-check (`e.error.code` on a discovery error).
 */
const TS = `import { isMeshError, MeshClient, type DiscoveryErrorEvent, type MeshErrorCode } from 'mesh-client';

const mesh = new MeshClient({
  discovery: { static: { users: [process.env.UPSTREAM ?? ''] } },
  timeout: { total: 5000, perTry: 2000 },
});
mesh.on('discovery-error', (e: DiscoveryErrorEvent) => {
  const code: string | undefined = e.error.code;
  if (isMeshError(e.error)) {
    const known: MeshErrorCode = e.error.code;
    console.warn(known, e.error.service);
  }
  console.warn(code, e.service, e.error.cause);
});
mesh.on('circuit-open', (e) => console.warn(e.service, e.endpoint));

async function main(): Promise<void> {
  try {
    const { data } = await mesh.service('users').get<{ path: string }>('/users/42');
    console.log(JSON.stringify({ kind: process.env.KIND, data }));
  } catch (err) {
    if (isMeshError(err)) console.error(err.code);
    throw err;
  } finally {
    await mesh.close();
  }
}
void main();
`;

const TSCONFIG = (module: string, skipLibCheck: boolean) =>
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module,
      moduleResolution: module,
      strict: true,
      esModuleInterop: true,
      skipLibCheck,
      types: ['node'],
      outDir: 'out',
    },
    include: ['app.ts'],
  });

/** What an application without the optional packages gets when it asks for what needs them. */
const ABSENT = `import { MeshClient } from 'mesh-client';
import { Sidecar } from 'mesh-client/sidecar';
const said = (fn) => {
  try {
    const made = fn();
    made?.close?.();
    return 'no error';
  } catch (err) {
    return err.message;
  }
};
const out = {
  consul: said(() => new MeshClient({ discovery: { consul: { services: ['users'] } } })),
  metrics: said(() => new MeshClient({ telemetry: { metrics: { registry: { registerMetric() {}, getSingleMetric() {} } } } })),
  sidecar: said(() => new Sidecar({ discovery: { static: { users: [process.env.UPSTREAM] } } })),
};
const mesh = new MeshClient({ discovery: { static: { users: [process.env.UPSTREAM] } } });
out.register = await mesh.register({ name: 'me', port: 1, check: { ttl: 10000 } }, { consul: { port: 1 } }).then(
  () => 'no error',
  (err) => err.message,
);
await mesh.close();
console.log(JSON.stringify(out));
`;

/** With the optional packages installed: metrics into the app's registry, and Consul discovery. */
const PRESENT = `import { MeshClient } from 'mesh-client';
import { Registry } from 'prom-client';
const registry = new Registry();
const upstream = new URL(process.env.UPSTREAM);
const mesh = new MeshClient({
  discovery: { consul: { host: '127.0.0.1', port: Number(process.env.CONSUL_PORT), services: ['users'] } },
  telemetry: { metrics: { registry } },
});
const registration = await mesh.register({
  name: 'users',
  address: '127.0.0.1',
  port: Number(upstream.port),
  check: { ttl: 10000 },
});
if (mesh.endpoints('users').length === 0) {
  await new Promise((resolve) => mesh.on('endpoints', (e) => e.endpoints.length > 0 && resolve()));
}
const { data } = await mesh.service('users').get('/users/42');
await registration.deregister();
const metrics = await registry.metrics();
await mesh.close();
console.log(JSON.stringify({ data, counted: /mesh_client_requests_total\\{[^}]*service="users"[^}]*\\} 1/.test(metrics) }));
`;

/** Write the consumers into `dir` (an installed scratch application). */
export function writeApps(dir: string): void {
  writeFileSync(join(dir, 'esm.mjs'), ESM);
  writeFileSync(join(dir, 'cjs.cjs'), CJS);
  writeFileSync(join(dir, 'absent.mjs'), ABSENT);
  writeFileSync(join(dir, 'present.mjs'), PRESENT);
  for (const [name, type] of [
    ['ts-cjs', 'commonjs'],
    ['ts-esm', 'module'],
  ] as const) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'package.json'), JSON.stringify({ type }));
    // Declarations are checked (skipLibCheck: false) where the optional packages their types
    // mention are installed; without them, as tsc --init sets it.
    writeFileSync(join(dir, name, 'tsconfig.json'), TSCONFIG('nodenext', !dir.endsWith('full')));
    writeFileSync(join(dir, name, 'app.ts'), TS);
  }
}
