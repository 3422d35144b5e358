// Test harness only: signs and verifies OCMF records with @road-labs/ocmf,
// an implementation independent of the Go ocmf package, so that each side
// checks the other (ocmf/interop_test.go runs it).
//
//   node harness.cjs sign            prints [{name, curve, record, publicKey}]
//   node harness.cjs verify < items  reads [{record, publicKey}], prints [{verified, error}]
//   node harness.cjs session < span  reads {begin: {time, kwh}, end: {time, kwh}},
//                                    prints {begin, end, publicKey}: the Begin and End
//                                    records of one transaction, signed with one P-256 key
//
// Keys are generated afresh on every run; public keys are hex DER
// SubjectPublicKeyInfo, as a charger registers them. CommonJS because the
// library's ES module build does not load in Node without a bundler.
'use strict';

const nodeCrypto = require('node:crypto');
const { Signer, Verifier, formatDate } = require('@road-labs/ocmf');
const { Crypto, EcPrivateKey, EcPublicKey } = require('@road-labs/ocmf-crypto-noble');

const backend = new Crypto();

// Node's names for the curves the library signs with.
const curves = {
  secp256r1: { node: 'prime256v1', method: 'ECDSA-secp256r1-SHA256' },
  secp384r1: { node: 'secp384r1', method: 'ECDSA-secp384r1-SHA256' },
  brainpool256r1: { node: 'brainpoolP256r1', method: 'ECDSA-brainpool256r1-SHA256' },
};

// DER: a tag, a definite length, the content.
function der(tag, content) {
  let len;
  if (content.length < 0x80) {
    len = Buffer.from([content.length]);
  } else {
    const bytes = [];
    for (let n = content.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

// The library reads the curve from the ECPrivateKey inside PKCS #8, where
// OpenSSL leaves it out; so the PKCS #8 wrapper is built around Node's SEC 1
// export, which names the curve.
function keyPair(curve) {
  const { privateKey, publicKey } = nodeCrypto.generateKeyPairSync('ec', { namedCurve: curves[curve].node });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const sec1 = privateKey.export({ format: 'der', type: 'sec1' });
  // SubjectPublicKeyInfo is SEQUENCE { AlgorithmIdentifier, BIT STRING }: the
  // same AlgorithmIdentifier (ecPublicKey, curve) heads PKCS #8.
  const start = spki[1] & 0x80 ? 2 + (spki[1] & 0x7f) : 2;
  const algorithm = spki.subarray(start, start + 2 + spki[start + 1]);
  const pkcs8 = der(0x30, Buffer.concat([Buffer.from([0x02, 0x01, 0x00]), algorithm, der(0x04, sec1)]));
  return {
    privateKey: EcPrivateKey.fromEncoded(pkcs8, 'pkcs8-der'),
    publicKeyHex: spki.toString('hex'),
  };
}

function payload(readings) {
  return {
    FV: '1.0',
    GI: 'KEBA_KCP30',
    GS: '17619300',
    GV: '2.8.5',
    PG: 'T32',
    MV: 'Phoenix Contact',
    MM: 'EEM-350-D-MCB',
    MS: 'BQ27400330016',
    MF: '1.0',
    IS: true,
    IL: 'VERIFIED',
    IF: ['RFID_PLAIN', 'OCPP_RS_TLS'],
    IT: 'ISO14443',
    ID: '1F2D3A4F5506C7',
    CT: 'EVSEID',
    CI: 'DE*ABC*E123*1',
    RD: readings,
  };
}

function reading(date, tx, value, unit) {
  return { TM: formatDate(date, 'S'), TX: tx, RV: value, RI: '1-b:1.8.0', RU: unit, RT: 'AC', EF: '', ST: 'G' };
}

async function sign() {
  const signer = new Signer(backend);
  const begin = new Date('2026-03-01T10:00:00.000Z');
  const end = new Date('2026-03-01T11:30:00.250Z');
  const cases = [
    { name: 'begin-p256', curve: 'secp256r1', readings: [reading(begin, 'B', 2935.6, 'kWh')] },
    { name: 'end-p256', curve: 'secp256r1', readings: [reading(end, 'E', 2947.1, 'kWh')] },
    { name: 'both-p384', curve: 'secp384r1', readings: [reading(begin, 'B', 2935600, 'Wh'), reading(end, 'E', 2947100, 'Wh')] },
    { name: 'begin-brainpool', curve: 'brainpool256r1', readings: [reading(begin, 'B', 12.5, 'kWh')] },
  ];
  const out = [];
  for (const c of cases) {
    const { privateKey, publicKeyHex } = keyPair(c.curve);
    const record = await signer.sign(payload(c.readings), privateKey, curves[c.curve].method);
    out.push({ name: c.name, curve: c.curve, record, publicKey: publicKeyHex });
  }
  return out;
}

async function verify(items) {
  const verifier = new Verifier(backend);
  const out = [];
  for (const item of items) {
    try {
      const key = EcPublicKey.fromEncoded(Buffer.from(item.publicKey, 'hex'), 'spki-der');
      const result = await verifier.parseAndVerify(item.record, key);
      out.push({ verified: result.verified, error: '' });
    } catch (err) {
      out.push({ verified: false, error: String(err && err.message ? err.message : err) });
    }
  }
  return out;
}

// session signs the Begin and End records of one transaction, at the
// times and register readings the caller's charge point reports.
async function session(span) {
  const signer = new Signer(backend);
  const { privateKey, publicKeyHex } = keyPair('secp256r1');
  const method = curves.secp256r1.method;
  const rec = (r, tx) => signer.sign(payload([reading(new Date(r.time), tx, r.kwh, 'kWh')]), privateKey, method);
  return { begin: await rec(span.begin, 'B'), end: await rec(span.end, 'E'), publicKey: publicKeyHex };
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const mode = process.argv[2];
  if (mode === 'sign') {
    process.stdout.write(JSON.stringify(await sign()) + '\n');
  } else if (mode === 'verify') {
    process.stdout.write(JSON.stringify(await verify(JSON.parse(await readStdin()))) + '\n');
  } else if (mode === 'session') {
    process.stdout.write(JSON.stringify(await session(JSON.parse(await readStdin()))) + '\n');
  } else {
    throw new Error('usage: node harness.cjs sign | verify | session');
  }
}

main().catch((err) => {
  process.stderr.write(`ocmf harness: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
