// Package ocmf reads and verifies signed meter values in the Open Charge
// Metering Format (OCMF), the format German calibration law (Eichrecht)
// meters use to sign their readings so that a driver can check a bill
// against the meter itself.
//
// A record is one line of text:
//
//	OCMF|{payload JSON}|{signature JSON}
//
// The payload names the gateway and meter (GI, GS, MS, …), the user
// identification (IS, IL, IF, IT, ID), the charge point (CT, CI) and up to
// MaxReadings readings (RD: time with its time status, reading reason TX,
// value RV with unit RU, status ST). The signature section names the
// algorithm (SA, ECDSA-secp256r1-SHA256 by default), the encoding of the
// signature (SE, hex by default, or base64), its format (SM,
// application/x-der only) and the signature itself (SD).
//
// Records arrive through OCPP: as a 1.6 SampledValue with format
// "SignedData", or as a 2.0.1 signedMeterValue. The caller keeps the record
// verbatim; this package gives it types, readings and a verification result.
//
// What is verified: the ECDSA signature (SHA-256, as OCMF prescribes for
// every curve) over the payload section exactly as received — the bytes
// between the first two '|' — with a public key in DER
// SubjectPublicKeyInfo form (hex, base64 or PEM), sent in the message
// (OCPP 2.0.1 publicKey) or registered for the charger. P-256 (secp256r1)
// and P-384 (secp384r1) are checked with the standard library; the other
// curves OCMF allows (secp192r1, secp192k1, secp256k1, brainpool…) are
// reported as Unsupported, never as Invalid.
//
// What is not verified: that the public key belongs to the meter named in
// the payload (no meter certificate chain, no lookup in a transparency
// register), that readings are monotonic across records, or the pagination
// (PG) sequence. A Verified record proves only that the holder of the key
// signed exactly this payload.
//
// Limits, each refused with an error that names it: an OCMF record is at
// most MaxRecordBytes (16 KiB) of text; a record sent in a transport
// encoding (base64 or hex, as OCPP 2.0.1 does) is at most MaxEncodedBytes
// (32 KiB) before decoding; a public key at most MaxPublicKeyBytes; a
// record carries at most MaxReadings (64) readings. OCPI's own field sizes
// (plain_data 512, signed_data 5,000 characters) are checked where the OCPI
// object is built. Malformed input is an error, never a panic.
package ocmf
