// The fake XNAT in a process of its own, for benchmarks: its unzipping and parsing must not count
// towards the gateway's memory. Prints its URL as one JSON line, then serves until killed.
//   node bench/fake-xnat-server.ts
import { startFakeXnat } from '../test/helpers/fake-xnat/index.ts';

const xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'gw' }, idleMs: 60_000 });
console.log(JSON.stringify({ url: xnat.url }));
process.on('SIGTERM', () => {
  void xnat.close().then(() => process.exit(0));
});
