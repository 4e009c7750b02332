/**
 * The README's and the guides' code cannot drift: every TypeScript snippet type-checks against the
 * library's own types, and every shell command either runs here (the sidecar's `--help`, the curl
 * lines against a real sidecar on loopback) or is on the skip list below, with why. A new command
 * that is on neither list fails the test until someone decides.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as api from 'mesh-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sidecar } from '../src/sidecar/sidecar.js';
import { ROOT } from './packaging/scratch.js';

const run = promisify(execFile);
// The file recipes of architecture.md are checked by docs-architecture.test.ts.
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md') && f !== 'architecture.md')
    .map((f) => `docs/${f}`),
];

interface Block {
  doc: string;
  lang: string;
  code: string;
}
const blocks: Block[] = DOCS.flatMap((doc) =>
  [...readFileSync(join(ROOT, doc), 'utf8').matchAll(/^```(\w*)\n([\s\S]*?)^```/gm)].map((m) => ({
    doc,
    lang: m[1]!,
    code: m[2]!,
  })),
);

/** Snippets that are not code to compile, and why. */
const TS_SKIPPED: Array<[RegExp, string]> = [
  [/compose\(telemetry, deadline/, 'pseudo-code of the composition, not an API'],
  [/@opentelemetry\/sdk-node/, "the application's OpenTelemetry SDK, not a dependency of this repository"],
];

/** Names snippets use without declaring: what the surrounding text says they are. */
const AMBIENT: Record<string, string> = {
  mesh: 'declare const mesh: MeshClient;',
  registration: "declare const registration: import('mesh-client').Registration;",
  server: "declare const server: import('node:http').Server;",
  canary: "declare function canary(percent: number): import('mesh-client').RoutingOptions;",
};

/** A snippet as a module: options fragments (`key: {...}`) inside an options object; free names declared. */
function asModule(code: string): string {
  const body = /^[a-zA-Z]+: [{[]/.test(code)
    ? `export const options: MeshClientOptions = {\n${code}};\n`
    : code;
  const declared = (name: string) =>
    new RegExp(
      `\\b(const|let|function|class|type)\\s+${name}\\b|^import\\s(?:(?!from)[^;])*\\b${name}\\b`,
      'm',
    ).test(code);
  const uses = (name: string) => new RegExp(`\\b${name}\\b`).test(body);
  const imports = Object.keys(api).filter((name) => uses(name) && !declared(name));
  const prelude = [
    `import type { MeshClientOptions } from 'mesh-client';`,
    imports.length ? `import { ${imports.join(', ')} } from 'mesh-client';` : '',
    ...Object.entries(AMBIENT)
      .filter(([name]) => uses(name) && !declared(name))
      .map(([, d]) => d),
  ];
  if (!imports.includes('MeshClient') && uses('mesh') && !declared('mesh'))
    prelude.push(`import type { MeshClient } from 'mesh-client';`);
  return `${prelude.join('\n')}\n${body}\nexport {};\n`;
}

describe('TypeScript snippets', () => {
  const snippets = blocks.filter((b) => b.lang === 'ts');
  const skipped = snippets.filter((s) => TS_SKIPPED.some(([re]) => re.test(s.code)));
  for (const s of skipped) it.skip(`${s.doc}: ${TS_SKIPPED.find(([re]) => re.test(s.code))![1]}`, () => {});

  it('type-check against the library', async () => {
    // Inside the repository, so that the snippets' other imports (pino, prom-client) resolve.
    const dir = join(ROOT, 'node_modules', '.cache', 'docs-snippets');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const checked = snippets.filter((s) => !skipped.includes(s));
    expect(checked.length).toBeGreaterThan(10);
    const names = checked.map((s, i) => `${s.doc.replace(/\W+/g, '_')}_${i}.ts`);
    checked.forEach((s, i) => {
      writeFileSync(join(dir, names[i]!), asModule(s.code));
    });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.json'),
        compilerOptions: {
          noEmit: true,
          rootDir: ROOT,
          paths: {
            'mesh-client': [join(ROOT, 'src/index.ts')],
            'mesh-client/sidecar': [join(ROOT, 'src/sidecar/index.ts')],
          },
        },
        include: names,
      }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', dir]).then(
      () => '',
      (e: { stdout: string }) => e.stdout,
    );
    // Each error names the snippet's file; the file's first line names the doc.
    expect(result.replaceAll(`${dir}/`, ''), `snippets as checked are in ${dir}`).toBe('');
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});

/** Shell lines not run here, and why. */
const SH_SKIPPED: Array<[RegExp, string]> = [
  [/^npm install|^npm ci/, 'installs packages'],
  [/^npm test|^bash \.ci\/run/, 'the whole suite: what runs this test'],
  [/^npm run (demo|bench)/, 'a benchmark run (test/bench-smoke.test.ts runs the demo --quick)'],
  [
    /mesh-sidecar --config|MESH_SIDECAR_CONFIG=|^npm run sidecar/,
    'a long-running sidecar (test/packaging and test/sidecar-wrapper start it these ways)',
  ],
  [/^npx tsx examples\//, 'an example (test/examples.test.ts runs every one)'],
  [/^consul |^docker |^kubectl |^dig /, 'an external tool and a cluster or agent'],
  [/^npm run docs/, 'builds the API site (checked by its own command)'],
  [/curl .*(?<!127\.0\.0\.1:15001.*)$/, 'a request to a server that is not the documented sidecar'],
];

/** The commands of the sh blocks: continuation lines joined, a quoted argument over lines kept whole. */
function shellLines(): Array<{ doc: string; line: string }> {
  const out: Array<{ doc: string; line: string }> = [];
  for (const b of blocks.filter((b) => b.lang === 'sh')) {
    let pending = '';
    for (const raw of b.code.replace(/\\\n\s*/g, ' ').split('\n')) {
      pending = pending ? `${pending} ${raw.trim()}` : raw;
      if ((pending.match(/'/g) ?? []).length % 2 === 1) continue;
      const line = pending.replace(/\s+#[^']*$/, '').trim();
      pending = '';
      if (line && !line.startsWith('#')) out.push({ doc: b.doc, line });
    }
  }
  return out;
}

/** A command without its leading environment assignments (other than a proxy's). */
const command = (line: string) => line.replace(/^(?:(?!http_proxy)[A-Z_]+=\S+\s+)+/, '');

describe('shell commands', () => {
  let upstream: http.Server;
  let sidecar: Sidecar;
  beforeAll(async () => {
    upstream = http.createServer((req, res) => res.end(JSON.stringify({ users: req.url })));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { port } = upstream.address() as AddressInfo;
    sidecar = await new Sidecar({
      discovery: { static: { users: [`http://127.0.0.1:${port}`] } },
      listen: '127.0.0.1:0',
      admin: '127.0.0.1:0',
    }).start();
  });
  afterAll(async () => {
    await sidecar.close();
    upstream.close();
  });

  const lines = shellLines();
  for (const { doc, line } of lines) {
    const skip = SH_SKIPPED.find(([re]) => re.test(command(line)) && !/--help|--version/.test(line));
    if (skip) {
      it.skip(`${doc}: \`${line}\` (${skip[1]})`, () => {});
    } else if (/mesh-sidecar (--help|--version)/.test(line)) {
      it(`${doc}: \`${line}\``, async () => {
        const flag = line.includes('--help') ? '--help' : '--version';
        const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/sidecar/cli.ts', flag], {
          cwd: ROOT,
        });
        expect(stdout.length).toBeGreaterThan(0);
      });
    } else if (/curl /.test(line) && line.includes('127.0.0.1:15001')) {
      it(`${doc}: \`${line}\` against a sidecar on loopback`, async () => {
        const port = new URL(sidecar.address).port;
        const { stdout } = await run(
          'sh',
          [
            '-c',
            `${line.replaceAll('127.0.0.1:15001', `127.0.0.1:${port}`)} --silent --show-error --max-time 10`,
          ],
          {
            env: { PATH: process.env.PATH },
          },
        );
        expect(JSON.parse(stdout)).toEqual({ users: '/users/42' });
      });
    } else {
      it(`${doc}: \`${line}\` is run or skipped by this test`, () => {
        expect.fail('new shell command in the docs: run it here or add it to SH_SKIPPED with why');
      });
    }
  }
});

it('configuration.md lists every per-service key', async () => {
  const { policySchema } = await import('../src/options/schema.js');
  const line = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('**Per service.**'));
  for (const key of Object.keys(policySchema.shape)) expect(line).toContain(`\`${key}\``);
});
