/**
 * An app with its own axios, using the built mesh-client from its node_modules (see
 * test/axios-peer.test.ts). It prints, as one JSON line, what it sees through the mesh on both
 * transports: whether the errors are its own axios's classes, which axios version the mesh's
 * requests announce, and whether a default set on its axios reaches the mesh's requests.
 */
import http from 'node:http';
import axios, { AxiosError, CanceledError } from 'axios';
import { MeshClient } from 'mesh-client';

const seen = [];
const arrivals = [];
const server = http.createServer((req, res) => {
  seen.push({ agent: req.headers['user-agent'], app: req.headers['x-app'] });
  for (const resolve of arrivals.splice(0)) resolve();
  if (req.url.startsWith('/missing')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{}');
  } else if (req.url.startsWith('/redirect')) {
    res.writeHead(302, { location: '/ok' });
    res.end();
  } else if (!req.url.startsWith('/hang')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  }
});
server.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const url = `http://127.0.0.1:${server.address().port}`;
const arrived = () => new Promise((resolve) => arrivals.push(resolve));

// A default of the app's own axios: it reaches the mesh's requests only if the mesh uses this axios.
axios.defaults.headers.common['x-app'] = 'mine';

const out = { version: axios.VERSION, transports: {} };
for (const transport of ['axios', 'undici']) {
  const mesh = new MeshClient({ discovery: { static: { svc: [url] } }, transport });
  const svc = mesh.service('svc');
  const r = {};
  r.redirected = (await svc.get('/redirect')).data;
  r.request = seen.at(-1);
  const missing = await svc.get('/missing').catch((e) => e);
  r.status = { instanceOf: missing instanceof AxiosError, code: missing.code };
  const timedOut = await svc.get('/hang', { timeout: 100 }).catch((e) => e);
  r.timeout = {
    instanceOf: timedOut instanceof AxiosError,
    code: timedOut.code,
    cause: timedOut.cause?.code,
  };
  const source = axios.CancelToken.source();
  const inFlight = arrived();
  const pending = svc.get('/hang', { cancelToken: source.token }).catch((e) => e);
  await inFlight;
  source.cancel('stop');
  const cancelled = await pending;
  r.cancel = { instanceOf: cancelled instanceof CanceledError, message: cancelled.message };
  out.transports[transport] = r;
  await mesh.close();
}
server.closeAllConnections();
server.close();
console.log(JSON.stringify(out));
