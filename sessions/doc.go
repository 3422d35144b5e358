// Package sessions keeps charging sessions: their lifecycle from OCPP and
// the API, their charging periods built from the connector's readings,
// their price and OCPI CDR, and the billing pull that serves them.
//
// # Lifecycle
//
// A session is active when it starts, completed when it stops, then priced
// by the pricing worker — or failed, with a reason, when it cannot be
// (no tariff assigned, connector unknown, readings that make no sense).
// Failed and priced sessions can be repriced (POST /v1/sessions/{id}/reprice).
//
// Sessions start and stop through POST /v1/sessions and
// /v1/sessions/{id}/stop, or through the charger-native routes:
// OCPP 1.6 StartTransaction.req (this service assigns the transactionId)
// and StopTransaction.req, and OCPP 2.0.1 TransactionEvent. Every event is
// idempotent:
//
//   - A repeated start (same external id and fields, or for OCPP 1.6 the
//     same connector, timestamp and idTag) returns the session it started;
//     the same external id with other fields is a CONFLICT.
//   - A repeated stop changes nothing; a stop with other values is a
//     CONFLICT.
//   - An OCPP 2.0.1 session is folded from the set of its events, keyed by
//     seqNo: repeats are ignored, and the result does not depend on the
//     order events arrive in — an Ended before its Updated or Started, or
//     an offline-queued event hours late. The start is the earliest event,
//     the stop the Ended event; meter start and stop are the
//     Transaction.Begin and Transaction.End register values. A late event
//     that changes what a stopped session is priced on (its charging
//     states, its EVSE, its meter values) sends it back to completed, and
//     it is priced again as a new version.
//
// Meter values carried by the lifecycle messages (1.6 transactionData, 2.0.1
// meterValue) are written through the ingest pipeline, and the request waits
// for their commit before the session changes, so the worker sees them. A
// session's readings are not copied: they are read from readings by its
// connector and time window ([start, stop] plus the sample either side)
// when it is priced. 2.0.1 meter values of events that arrive before any
// event has named the EVSE are kept with their event until one does.
//
// # Charging periods and price
//
// BuildPeriods cuts the session at every instant its price can change — the
// tariff's local-time windows and day changes (in the tariff's zone, else
// the connector's or its charge box's), duration, energy, power and current
// bounds, and the switch between charging and parking — and measures each
// period's ENERGY, TIME or PARKING_TIME, MAX_POWER and MAX_CURRENT. The pure
// tariffs engine prices them (tariffs.PriceSession, through CDR.Reprice so
// the CDR's totals are OCPI's). The tariff is the charging tariff assigned
// to the connector, else to its charge box, valid at the session start
// (TariffSource). Active sessions show a running estimate: the session
// priced as if it stopped now.
//
// The pricing worker claims completed sessions with SELECT … FOR UPDATE
// SKIP LOCKED and a lease, prices them outside any transaction and stores
// a result only if the session is still at the version it priced. It wakes
// when a session completes in this process and polls for the rest, so
// several replicas share the work and a dead worker's claims run out. A
// pricing that returns an error or panics is retried when its lease runs
// out, up to Config.MaxPricingAttempts counted across replicas; then the
// session is quarantined as failed ("pricing failed 5 times: …") rather
// than claimed forever, until a reprice or a lifecycle change.
//
// # The billing pull
//
// GET /v1/sessions serves sessions in the order they last changed, by
// (updated_at, id), with an opaque cursor. A billing job must never miss a
// change nor get one twice, while sessions are being started, priced and
// repriced. Ordering by a timestamp alone cannot promise that: updated_at =
// now() is the transaction's start, and a transaction that started earlier
// may commit later, landing behind a cursor that already passed its
// position — skipped for good. Sequence values have the same flaw: they are
// drawn before commit, and commit order is not draw order.
//
// This package makes draw order commit order, per tenant. Every session
// write runs in a transaction that first takes a per-tenant advisory lock
// (pg_advisory_xact_lock, released at commit), and draws its version —
// change_seq, from one sequence — and its updated_at under it: updated_at is
// clock_timestamp(), or 1 µs past the tenant's last change if the clock is
// behind. So within a tenant a higher version always commits after every
// lower one, and (updated_at, id) order is version order. Any snapshot
// therefore sees a prefix of the tenant's changes, and a cursor holding the
// last version served (not a time) can never be overtaken.
//
// A pull is the pages from a cursor until has_more is false. Its first page
// fixes a horizon — the tenant's last committed version — and the pull
// serves the matching sessions whose current version lies between the
// cursor and the horizon, in version order. A session changed during the
// pull moves past the horizon: it is not served twice in this pull, and the
// next pull, started from the last page's next_cursor, serves its new
// version. So within a pull no session appears twice, across pulls every
// change is served once, and nothing is skipped (TestBillingPullUnderConcurrentWrites
// checks it with a delay between drawing each version and committing it,
// and fails when the lock is taken out). A change that alters nothing a
// billing job sees — a repeated OCPP event, a reprice to the same result —
// writes no new version.
//
// The pull may read a streaming standby (ReadFromStandby). The rule
// holds there: the standby replays commits in the primary's order, so it
// too shows a prefix of each tenant's changes. What a standby can lack is
// the newest of them, so a page is served there only when the standby's
// last change is at or past the cursor's position and horizon; otherwise
// the primary serves it. A cursor from the primary (or from a standby
// further ahead) can therefore never make a lagging standby end a pull
// early or serve an older version (TestBillingPullFromStandby).
//
// The cost is that session writes of one tenant are serialised: each holds
// the lock for its own few statements (the pricing itself runs outside, and
// only its result is written under the lock), so a tenant can still write
// some thousands of changes a second. The alternatives were weighed: a
// reader-side horizon (serve only versions below the oldest running
// writer, pg_snapshot_xmin) leaves writers free, but any long transaction
// anywhere in the database — an export, a rollup backfill — holds every
// billing pull back behind it; a separate change log table has the same
// ordering problem to solve and doubles the writes.
//
// GET /v1/sessions/export streams every priced session started in [from,
// to) as NDJSON, CSV or an Arrow IPC stream, reading rows from the database
// as it writes them, in record batches of exportBatch rows: memory does not
// grow with the number of sessions.
package sessions
