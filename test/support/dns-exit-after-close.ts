/**
 * Run as a child process by the DNS close() test: resolves a name on a live DNS server, leaves a
 * query in flight on a server that never answers, closes both discoveries, and must then exit by
 * itself. Prints what it resolved and the active resources left after close().
 *
 * argv: the live server's address, then the silent one's.
 */
import { DnsDiscovery } from '../../src/discovery/dns/discovery.js';

const [live, silent] = process.argv.slice(2) as [string, string];
const answering = new DnsDiscovery({ servers: [live], minRefresh: 100 });
// Five tries of 5 s each: were the query not cancelled, this process would live for 25 s more.
const hanging = new DnsDiscovery({ servers: [silent], timeout: 5_000, tries: 5 });
let urls: string[] = [];
const sub = answering.subscribe('users', (endpoints) => {
  urls = endpoints.map((e) => e.url);
});
await sub.ready;
let outcome = 'pending';
hanging
  .subscribe('users', () => {})
  .ready.then(
    () => (outcome = 'resolved'),
    (error: Error) => (outcome = error.message.split(':')[0]!),
  );
await Promise.all([answering.close(), hanging.close()]);
// Sockets closed by close() finish closing on the next turns of the event loop.
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setImmediate(resolve));
const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
console.log(JSON.stringify({ urls, outcome, resources }));
