// PostgreSQL wire-protocol front end for one PGlite instance, used by
// server.mjs. Test harness only.
//
// PGlite runs the backend's protocol loop itself: execProtocolRaw(bytes)
// feeds it whole frontend messages (the startup packet and password message
// included, any password is accepted) and returns the backend's reply. This
// front end frames the client's byte stream into messages, hands each batch
// of complete messages to PGlite in one call and writes the reply back.
//
// COPY ... FROM STDIN needs help: PGlite cannot resume a copy across calls,
// so the COPY query and all of its CopyData must reach it in the same call.
// When a simple Query is a COPY FROM STDIN, the front end answers the
// CopyInResponse itself, buffers the client's CopyData until CopyDone or
// CopyFail, then runs query and data in one call and forwards the reply
// without PGlite's own CopyInResponse. (Extended-protocol COPY FROM STDIN
// is not handled; pgx and psql send COPY as a simple Query.)
//
// PGlite is a single backend, so one connection is served at a time and
// the others wait their turn (up to queueTimeoutMs). SSLRequest and
// GSSENCRequest are declined; CancelRequest is ignored, since nothing can
// interrupt the WASM backend mid-statement.

import net from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP_PACKET = 10_000; // as PostgreSQL's MAX_STARTUP_PACKET_LENGTH
const MAX_MESSAGE = 1 << 30; // PostgreSQL's limit on one message
const MAX_COLUMNS = 1664; // PostgreSQL's MaxTupleAttributeNumber

const EMPTY = Buffer.alloc(0);
const msgType = (ch) => ch.charCodeAt(0);
const Q = msgType('Q');
const COPY_DATA = msgType('d');
const COPY_DONE = msgType('c');
const COPY_FAIL = msgType('f');
const FLUSH = msgType('H');
const SYNC = msgType('S');
const TERMINATE = msgType('X');
const COPY_IN_RESPONSE = msgType('G');
const READY_FOR_QUERY = msgType('Z');
const DATA_ROW = msgType('D');

export class WireServer {
  constructor({ db, host, port, queueTimeoutMs = 60_000, log = console.error }) {
    this.db = db;
    this.host = host;
    this.port = port;
    this.queueTimeoutMs = queueTimeoutMs;
    this.log = log;
    this.server = null;
    this.connections = new Set();
    this.active = null; // the connection PGlite is serving
    this.queue = []; // { conn, resolve, timer } waiting for their turn
    this.txStatus = 'I'; // the session's last ReadyForQuery status
    this.stopping = false;
  }

  // Resolves once listening; rejects with the listen error (EADDRINUSE...).
  start() {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      const failed = (err) => reject(err);
      server.once('error', failed);
      server.listen(this.port, this.host, () => {
        server.off('error', failed);
        server.on('error', (err) => this.log('timescale harness: server error:', err));
        this.server = server;
        resolve();
      });
    });
  }

  async stop() {
    this.stopping = true;
    for (const conn of [...this.connections]) conn.close();
    if (!this.server) return;
    const server = this.server;
    this.server = null;
    await new Promise((resolve) => server.close(() => resolve()));
  }

  accept(socket) {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.connections.add(new Connection(this, socket));
  }

  // Waits for the connection's turn with PGlite: true once it has it, false
  // if it closed or timed out while waiting.
  acquire(conn) {
    if (this.active === null) {
      this.active = conn;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const entry = { conn, resolve, timer: null };
      entry.timer = setTimeout(() => {
        this.queue = this.queue.filter((e) => e !== entry);
        resolve(false);
        conn.fatal('53300', 'timescale harness: timed out waiting for the one PGlite session');
      }, this.queueTimeoutMs);
      this.queue.push(entry);
    });
  }

  release(conn) {
    this.connections.delete(conn);
    const waiting = this.queue.findIndex((e) => e.conn === conn);
    if (waiting >= 0) {
      const [entry] = this.queue.splice(waiting, 1);
      clearTimeout(entry.timer);
      entry.resolve(false);
    }
    if (this.active !== conn) return;
    this.active = null;
    while (this.queue.length > 0) {
      const entry = this.queue.shift();
      clearTimeout(entry.timer);
      if (entry.conn.closed) {
        entry.resolve(false);
        continue;
      }
      this.active = entry.conn;
      entry.resolve(true);
      return;
    }
  }

  // Runs frontend messages through PGlite and returns a copy of the reply
  // (PGlite reuses its output buffer on the next call).
  async exec(bytes) {
    const out = Buffer.from(await this.db.execProtocolRaw(bytes));
    const status = lastReadyStatus(out);
    if (status !== null) this.txStatus = status;
    return out;
  }
}

class Connection {
  constructor(server, socket) {
    this.server = server;
    this.socket = socket;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.buf = EMPTY; // received bytes not yet framed into messages
    this.phase = 'startup'; // then 'waiting' for PGlite, then 'session'
    this.copy = null; // { query, parts } while a COPY FROM STDIN is buffered
    this.busy = false;
    this.closed = false;
    socket.on('data', (chunk) => this.receive(chunk));
    socket.on('error', (err) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
        server.log(`timescale harness: connection ${this.peer}:`, err);
      }
      this.close();
    });
    socket.on('close', () => this.close());
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.buf = EMPTY;
    this.copy = null;
    this.socket.destroy();
    this.server.release(this);
  }

  // Closes the connection after writing what is queued, and last.
  finish(last = EMPTY) {
    if (this.closed) return;
    this.closed = true;
    this.buf = EMPTY;
    this.copy = null;
    if (this.socket.writable) this.socket.end(last);
    else this.socket.destroy();
    this.server.release(this);
  }

  // Sends a FATAL ErrorResponse and closes the connection.
  fatal(code, message) {
    this.finish(errorResponse('FATAL', code, message));
  }

  write(bytes) {
    if (bytes.length > 0 && !this.closed && this.socket.writable) this.socket.write(bytes);
  }

  receive(chunk) {
    if (this.closed) return;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.drive();
  }

  // Processes buffered input, one step at a time, until it runs out of
  // complete messages. Only one drive runs per connection; data arriving
  // meanwhile is picked up by its loop. Any failure closes this connection
  // only.
  async drive() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.closed) break;
        const progressed = this.phase === 'startup' ? await this.startupStep() : await this.sessionStep();
        if (!progressed) break;
      }
    } catch (err) {
      this.server.log(`timescale harness: connection ${this.peer}:`, err);
      this.close();
    } finally {
      this.busy = false;
    }
  }

  take(n) {
    const head = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return head;
  }

  // Startup packets have no type byte: int32 length, int32 request code.
  async startupStep() {
    if (this.buf.length < 8) return false;
    const len = this.buf.readInt32BE(0);
    if (len < 8 || len > MAX_STARTUP_PACKET) throw new Error(`invalid startup packet length ${len}`);
    if (this.buf.length < len) return false;
    const packet = this.take(len);
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      this.write(Buffer.from('N'));
      return true;
    }
    if (code === CANCEL_REQUEST) {
      this.finish();
      return false;
    }
    this.phase = 'waiting';
    if (!(await this.server.acquire(this)) || this.closed) return false;
    this.phase = 'session';
    this.write(await this.server.exec(packet));
    return true;
  }

  // Frames every complete message buffered so far and handles them.
  async sessionStep() {
    const messages = [];
    let off = 0;
    while (this.buf.length - off >= 5) {
      const len = this.buf.readInt32BE(off + 1);
      if (len < 4 || len > MAX_MESSAGE) {
        throw new Error(`invalid length ${len} of message type 0x${this.buf[off].toString(16)}`);
      }
      if (this.buf.length - off < 1 + len) break;
      messages.push(this.buf.subarray(off, off + 1 + len));
      off += 1 + len;
    }
    if (messages.length === 0) return false;
    this.buf = this.buf.subarray(off);
    await this.handle(messages);
    return true;
  }

  // Passes runs of ordinary messages to PGlite as one batch each; a COPY
  // FROM STDIN query and its data are held back and sent together.
  async handle(messages) {
    let batch = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const bytes = batch.length === 1 ? batch[0] : Buffer.concat(batch);
      batch = [];
      this.write(await this.server.exec(bytes));
    };
    for (const msg of messages) {
      if (this.closed) return;
      const type = msg[0];
      if (this.copy !== null) {
        if (type === COPY_DATA) {
          this.copy.parts.push(msg);
          continue;
        }
        if (type === FLUSH || type === SYNC) continue; // ignored during copy-in, as by PostgreSQL
        if (type === COPY_DONE || type === COPY_FAIL) {
          this.copy.parts.push(msg);
          await this.finishCopy();
          continue;
        }
        // A protocol violation: fail the copy as PostgreSQL would, then
        // treat the message as an ordinary one.
        const name = String.fromCharCode(type);
        this.copy.parts.push(copyFail(`unexpected message type "${name}" during COPY from stdin`));
        await this.finishCopy();
      }
      if (type === Q) {
        const plan = planQuery(msg);
        if (plan !== null) {
          await flush();
          if (plan.copy) await this.startCopy(msg, plan.copy);
          else this.write(Buffer.concat([errorResponse('ERROR', '0A000', plan.reject), readyForQuery(this.server.txStatus)]));
          continue;
        }
      }
      batch.push(msg);
      if (type === TERMINATE) {
        // PGlite's session lives on; the connection ends, as with PostgreSQL.
        await flush();
        this.finish();
        return;
      }
    }
    await flush();
  }

  async startCopy(query, { binary, columns, table }) {
    const n = columns ?? (await this.columnCount(table));
    this.write(copyInResponse(binary, n));
    this.copy = { query, parts: [] };
  }

  async finishCopy() {
    const { query, parts } = this.copy;
    this.copy = null;
    const reply = await this.server.exec(Buffer.concat([query, ...parts]));
    this.write(withoutFirst(reply, COPY_IN_RESPONSE));
  }

  // The column count for a CopyInResponse when the COPY names no columns.
  // Clients hardly look at it, so any failure just yields 0. to_regclass
  // does not raise, so an open transaction is left as it was.
  async columnCount(table) {
    const sql =
      'SELECT count(*) FROM pg_catalog.pg_attribute' +
      ` WHERE attrelid = pg_catalog.to_regclass(${quoteLiteral(table)})` +
      ' AND attnum > 0 AND NOT attisdropped';
    try {
      const reply = await this.server.exec(queryMessage(sql));
      const value = firstValue(reply);
      const n = value === null ? 0 : Number.parseInt(value, 10);
      return Number.isInteger(n) ? n : 0;
    } catch (err) {
      this.server.log('timescale harness: COPY column count:', err);
      return 0;
    }
  }
}

// ---- backend and frontend messages ------------------------------------

function message(type, body) {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const cstring = (s) => Buffer.from(`${s}\0`, 'utf8');

function queryMessage(sql) {
  return message(Q, cstring(sql));
}

function copyFail(reason) {
  return message(COPY_FAIL, cstring(reason));
}

function copyInResponse(binary, columns) {
  const n = Math.min(Math.max(columns, 0), MAX_COLUMNS);
  const format = binary ? 1 : 0;
  const body = Buffer.alloc(3 + 2 * n);
  body[0] = format;
  body.writeInt16BE(n, 1);
  for (let i = 0; i < n; i++) body.writeInt16BE(format, 3 + 2 * i);
  return message(COPY_IN_RESPONSE, body);
}

function errorResponse(severity, code, text) {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${text}`].map(cstring);
  return message(msgType('E'), Buffer.concat([...fields, Buffer.from([0])]));
}

function readyForQuery(status) {
  return message(READY_FOR_QUERY, Buffer.from(status, 'latin1'));
}

// Calls fn(type, offset, length) for each backend message in bytes;
// stops early when fn returns true.
function eachMessage(bytes, fn) {
  let off = 0;
  while (bytes.length - off >= 5) {
    const len = bytes.readInt32BE(off + 1);
    if (len < 4) return;
    if (fn(bytes[off], off, 1 + len)) return;
    off += 1 + len;
  }
}

function lastReadyStatus(bytes) {
  let status = null;
  eachMessage(bytes, (type, off) => {
    if (type === READY_FOR_QUERY && off + 5 < bytes.length) status = String.fromCharCode(bytes[off + 5]);
  });
  return status;
}

function withoutFirst(bytes, wanted) {
  let out = bytes;
  eachMessage(bytes, (type, off, len) => {
    if (type !== wanted) return false;
    out = Buffer.concat([bytes.subarray(0, off), bytes.subarray(off + len)]);
    return true;
  });
  return out;
}

// The text of the first column of the first DataRow, or null.
function firstValue(bytes) {
  let value = null;
  eachMessage(bytes, (type, off, len) => {
    if (type !== DATA_ROW || len < 11) return false;
    const size = bytes.readInt32BE(off + 7);
    if (size >= 0) value = bytes.toString('utf8', off + 11, off + 11 + size);
    return true;
  });
  return value;
}

function quoteLiteral(s) {
  return `'${s.replaceAll("'", "''")}'`;
}

// ---- recognising COPY FROM STDIN ----------------------------------------

// For a Query message: null to pass it on as it is; { copy } when its first
// statement is a COPY FROM STDIN; { reject: reason } when a COPY FROM STDIN
// appears where this front end cannot feed it (PGlite would crash).
export function planQuery(msg) {
  const sql = msg.toString('utf8', 5, msg.length - 1);
  if (!/copy/i.test(sql)) return null;
  const statements = splitStatements(tokenize(sql));
  const copies = statements.map((tokens) => copyFromStdin(tokens, sql));
  const count = copies.filter((c) => c !== null).length;
  if (count === 0) return null;
  if (count > 1 || copies[0] === null) {
    return {
      reject:
        'timescale harness: COPY FROM STDIN must be the only COPY FROM STDIN and the first statement of its query',
    };
  }
  return { copy: copies[0] };
}

// Tokens: { kind: 'word' (value lower-cased) | 'ident' (quoted) | 'string'
// | 'punct' | 'other', value, start, end }. Comments and white space are
// skipped; dollar-quoted bodies are one 'string' token.
export function tokenize(sql) {
  const tokens = [];
  const n = sql.length;
  const identStart = /[A-Za-z_\u0080-\uffff]/;
  const identPart = /[A-Za-z0-9_$\u0080-\uffff]/;
  const dollarTag = /\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/y;
  let i = 0;
  const push = (kind, value, start) => tokens.push({ kind, value, start, end: i });
  // Index just past a quoted run opened before `from`, with the quote
  // doubled inside; backslash escapes too when `backslash`.
  const closeQuote = (from, quote, backslash) => {
    let j = from;
    while (j < n) {
      if (backslash && sql[j] === '\\') j += 2;
      else if (sql[j] === quote && sql[j + 1] === quote) j += 2;
      else if (sql[j] === quote) return j + 1;
      else j++;
    }
    return n;
  };
  while (i < n) {
    const c = sql[i];
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? n : eol + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'") {
      i = closeQuote(i + 1, "'", false);
      push('string', sql.slice(start + 1, i - 1).replaceAll("''", "'"), start);
    } else if ((c === 'e' || c === 'E') && sql[i + 1] === "'") {
      i = closeQuote(i + 2, "'", true);
      push('string', sql.slice(start + 2, i - 1), start);
    } else if (c === '"') {
      i = closeQuote(i + 1, '"', false);
      push('ident', sql.slice(start + 1, i - 1).replaceAll('""', '"'), start);
    } else if (c === '$' && ((dollarTag.lastIndex = i), dollarTag.test(sql))) {
      const tag = sql.slice(i, dollarTag.lastIndex);
      const close = sql.indexOf(tag, dollarTag.lastIndex);
      i = close < 0 ? n : close + tag.length;
      push('string', sql.slice(start + tag.length, Math.max(start + tag.length, i - tag.length)), start);
    } else if (identStart.test(c)) {
      while (i < n && identPart.test(sql[i])) i++;
      push('word', sql.slice(start, i).toLowerCase(), start);
    } else if (/[0-9]/.test(c)) {
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i])) i++;
      push('other', sql.slice(start, i), start);
    } else {
      i++;
      push('punct', c, start);
    }
  }
  return tokens;
}

// Splits on top-level semicolons, dropping empty statements.
function splitStatements(tokens) {
  const statements = [];
  let current = [];
  for (const t of tokens) {
    if (t.kind === 'punct' && t.value === ';') {
      if (current.length > 0) statements.push(current);
      current = [];
    } else current.push(t);
  }
  if (current.length > 0) statements.push(current);
  return statements;
}

// For one statement's tokens: null unless it is
//   COPY [BINARY] table [( columns )] FROM STDIN [[WITH] options] [WHERE ...]
// else { binary, columns (null when not listed), table (as written) }.
function copyFromStdin(tokens, sql) {
  let i = 0;
  const isWord = (w) => tokens[i]?.kind === 'word' && tokens[i].value === w;
  const isPunct = (p) => tokens[i]?.kind === 'punct' && tokens[i].value === p;
  const isName = (t) => t?.kind === 'word' || t?.kind === 'ident';

  if (!isWord('copy')) return null;
  i++;
  let binary = false;
  if (isWord('binary')) {
    binary = true;
    i++;
  }
  if (!isName(tokens[i])) return null; // COPY (query) TO ...
  const first = tokens[i];
  let last = first;
  i++;
  while (isPunct('.') && isName(tokens[i + 1])) {
    last = tokens[i + 1];
    i += 2;
  }
  const table = sql.slice(first.start, last.end);

  let columns = null;
  if (isPunct('(')) {
    let depth = 0;
    let commas = 0;
    let names = 0;
    for (; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.kind === 'punct' && t.value === '(') depth++;
      else if (t.kind === 'punct' && t.value === ')') {
        if (--depth === 0) {
          i++;
          break;
        }
      } else if (depth === 1 && t.kind === 'punct' && t.value === ',') commas++;
      else if (depth === 1) names++;
    }
    columns = names > 0 ? commas + 1 : 0;
  }

  if (!isWord('from')) return null;
  i++;
  if (!isWord('stdin')) return null;
  i++;
  if (isWord('with')) i++;

  if (isPunct('(')) {
    // ( name [value] [, ...] ): only FORMAT matters here.
    let depth = 0;
    let name = null;
    let expectName = true;
    for (; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.kind === 'punct' && t.value === '(') {
        depth++;
        continue;
      }
      if (t.kind === 'punct' && t.value === ')') {
        if (--depth === 0) break;
        continue;
      }
      if (depth !== 1) continue;
      if (t.kind === 'punct' && t.value === ',') {
        expectName = true;
        continue;
      }
      if (expectName) {
        name = t.value.toLowerCase();
        expectName = false;
      } else if (name === 'format') {
        binary = t.value.toLowerCase() === 'binary';
      }
    }
  } else {
    // Pre-9.0 option syntax: BINARY is a bare keyword.
    for (; i < tokens.length && !isWord('where'); i++) {
      if (isWord('binary')) binary = true;
    }
  }
  return { binary, columns, table };
}
