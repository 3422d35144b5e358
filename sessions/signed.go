package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridmetrics/gridmetrics/ingest"
	"github.com/gridmetrics/gridmetrics/ocmf"
	"github.com/gridmetrics/gridmetrics/tariffs"
)

// This file keeps the signed meter values (OCMF records, German calibration
// law) of sessions: each record verbatim with its nature, the reading it
// stands for and its verification when it arrived. A session's signature
// state is the weakest of its records'; its energy comes from its signed
// Start and End readings when it has both; its CDR carries them as OCPI
// signed_data.

// MaxSignedValues bounds the signed values kept per session. A charger
// signing every periodic sample of a long session reaches it; the values
// past it are refused per row with CodeTooManySignedValues (their plain
// readings are still written).
const MaxSignedValues = 1000

// CodeTooManySignedValues is the per-row code of a signed value past
// MaxSignedValues.
const CodeTooManySignedValues = "TOO_MANY_SIGNED_VALUES"

// PublicKeyMetadata is the source metadata key of the OCMF public key of a
// connector's meter (or, on the charge box, of all its connectors): DER
// SubjectPublicKeyInfo in hex, base64 or PEM. A key sent with the value
// (OCPP 2.0.1 publicKey) takes precedence.
const PublicKeyMetadata = "ocmf_public_key"

// SignatureState is a session's signature state: the weakest status of its
// signed values, in the order invalid (a record that does not verify or
// cannot be read), unsigned (no signature, or no key to check it with),
// unsupported (a curve or encoding not checked here), verified. A session
// without signed values is unsigned.
func SignatureState(statuses []ocmf.Status) ocmf.Status {
	if len(statuses) == 0 {
		return ocmf.Unsigned
	}
	rank := map[ocmf.Status]int{ocmf.Invalid: 0, ocmf.Unsigned: 1, ocmf.Unsupported: 2, ocmf.Verified: 3}
	out := ocmf.Verified
	for _, s := range statuses {
		r, ok := rank[s]
		if !ok {
			r = 0
		}
		if r < rank[out] {
			out = s
		}
	}
	return out
}

// signedValue is a stored signed value.
type signedValue struct {
	value   ocmf.Signed
	nature  ocmf.Nature
	status  ocmf.Status
	readAt  *time.Time
	readWh  *float64
	decoded bool // the record decodes: it can go into a CDR
}

// registeredKey is the OCMF public key on the connector, else on its
// charge box; "" when neither has one.
func (st station) registeredKey() string {
	for _, m := range []map[string]any{st.metadata, st.parentMetadata} {
		if k, ok := m[PublicKeyMetadata].(string); ok && strings.TrimSpace(k) != "" {
			return k
		}
	}
	return ""
}

// check makes a stored value of a received one, with the registered key.
func check(v ocmf.Signed, key string) signedValue {
	out := signedValue{value: v, nature: ocmf.NatureOfContext(v.Context)}
	res, err := ocmf.Check(v, key)
	if err != nil {
		out.status = ocmf.Invalid
		return out
	}
	out.nature, out.status = res.Nature, res.Verification.Status
	if out.nature == "" {
		out.nature = ocmf.NatureIntermediate
	}
	out.decoded = res.Record != nil
	if rd, ok := ingest.SignedReading(res); ok {
		at, wh := rd.Time.UTC(), rd.Wh
		out.readAt, out.readWh = &at, &wh
	}
	return out
}

// reasonOf is why a value has its status, for the stored row.
func reasonOf(v ocmf.Signed, key string) string {
	res, err := ocmf.Check(v, key)
	if err != nil {
		return err.Error()
	}
	return res.Verification.Reason
}

// StoreSigned keeps the signed values of a MeterValues message with the
// session they belong to: the OCPP 1.6 transaction transactionID of the
// charge box when given, else the session active on the connector. When
// there is none (values sampled outside a transaction) the records are not
// kept: their plain readings have been written to the connector's readings
// like any others. It returns the values refused past MaxSignedValues.
func (svc *Service) StoreSigned(ctx context.Context, tenantID int64, box string, connector int, transactionID string,
	values []ingest.SignedValue) ([]ingest.RowError, error) {
	if len(values) == 0 {
		return nil, nil
	}
	id, sourceID, err := svc.store.sessionOfSigned(ctx, tenantID, box, connector, transactionID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the session of signed values: %w", err)
	}
	return svc.keepSigned(ctx, id, sourceID, values)
}

// sessionOfSigned finds the session that signed values of a charge box
// belong to: the 1.6 transaction transactionID when given, else the
// session active on the connector. pgx.ErrNoRows when there is none.
func (st *Store) sessionOfSigned(ctx context.Context, tenantID int64, box string, connector int, transactionID string) (id int64, sourceID *int64, err error) {
	q := `SELECT s.id, s.source_id FROM sessions s WHERE s.tenant_id = $1 AND s.charge_box_id = $2 AND s.external_id = $3`
	args := []any{tenantID, box, transactionID}
	if transactionID == "" {
		q = `SELECT s.id, s.source_id FROM sessions s JOIN sources c ON c.id = s.source_id
			WHERE s.tenant_id = $1 AND s.charge_box_id = $2 AND c.external_id = $3 AND s.status = 'active'
			ORDER BY s.start_time DESC LIMIT 1`
		args[2] = ingest.OCPPSourceExternalID(box, connector)
	}
	err = st.db.QueryRow(ctx, q, args...).Scan(&id, &sourceID)
	return id, sourceID, err
}

// keepSigned checks and stores signed values on session id.
func (svc *Service) keepSigned(ctx context.Context, id int64, sourceID *int64, values []ingest.SignedValue) ([]ingest.RowError, error) {
	if len(values) == 0 {
		return nil, nil
	}
	key := ""
	if sourceID != nil {
		st, err := svc.store.station(ctx, *sourceID)
		if err != nil {
			return nil, err
		}
		key = st.registeredKey()
	}
	var refused []ingest.RowError
	err := pgx.BeginFunc(ctx, svc.store.db, func(tx pgx.Tx) error {
		refused = nil
		// The session's row lock orders concurrent writers, so the cap holds.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM signed_values WHERE session_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		for _, v := range values {
			if n >= MaxSignedValues {
				// A record the session holds already is a repeat, not one more.
				var held bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signed_values WHERE session_id = $1 AND md5(record) = md5($2))`,
					id, v.Value.Data).Scan(&held); err != nil {
					return err
				}
				if held {
					continue
				}
				refused = append(refused, ingest.RowError{Index: v.Index, Code: CodeTooManySignedValues,
					Message: fmt.Sprintf("the session already holds %d signed values, the most kept per session", MaxSignedValues)})
				continue
			}
			s := check(v.Value, key)
			tag, err := tx.Exec(ctx, `INSERT INTO signed_values (session_id, nature, record, context, encoding_method, signing_method,
					public_key, status, reason, reading_time, reading_wh)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
				id, string(s.nature), v.Value.Data, v.Value.Context, v.Value.EncodingMethod, v.Value.SigningMethod,
				v.Value.PublicKey, string(s.status), reasonOf(v.Value, key), s.readAt, s.readWh)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store signed values: %w", err)
	}
	return refused, nil
}

// signedValues reads a session's signed values in arrival order.
func (st *Store) signedValues(ctx context.Context, sessionID int64) ([]signedValue, error) {
	m, err := st.signedValuesOf(ctx, []int64{sessionID})
	return m[sessionID], err
}

// signedValuesOf reads the signed values of many sessions in one
// statement, each session's in arrival order; sessions without any are
// missing from the map.
func (st *Store) signedValuesOf(ctx context.Context, sessionIDs []int64) (map[int64][]signedValue, error) {
	rows, err := st.db.Query(ctx, `SELECT session_id, nature, record, context, encoding_method, signing_method, public_key, status,
			reading_time, reading_wh FROM signed_values WHERE session_id = ANY($1) ORDER BY session_id, id`, sessionIDs)
	if err != nil {
		return nil, fmt.Errorf("read signed values: %w", err)
	}
	defer rows.Close()
	out := map[int64][]signedValue{}
	for rows.Next() {
		var id int64
		var v signedValue
		var nature, status string
		if err := rows.Scan(&id, &nature, &v.value.Data, &v.value.Context, &v.value.EncodingMethod, &v.value.SigningMethod,
			&v.value.PublicKey, &status, &v.readAt, &v.readWh); err != nil {
			return nil, fmt.Errorf("read signed values: %w", err)
		}
		v.nature, v.status = ocmf.Nature(nature), ocmf.Status(status)
		out[id] = append(out[id], v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read signed values: %w", err)
	}
	return out, nil
}

// signedEnergy is the energy register at a session's signed Start and End
// readings, when it has both (and neither is invalid): the first Start and
// the last End.
func signedEnergy(values []signedValue) (start, end *float64) {
	for _, v := range values {
		if v.readWh == nil || v.status == ocmf.Invalid {
			continue
		}
		switch v.nature {
		case ocmf.NatureStart:
			if start == nil {
				start = v.readWh
			}
		case ocmf.NatureEnd:
			end = v.readWh
		}
	}
	if start == nil || end == nil {
		return nil, nil
	}
	return start, end
}

// signatureState is the signature state of stored values.
func signatureState(values []signedValue) ocmf.Status {
	statuses := make([]ocmf.Status, len(values))
	for i, v := range values {
		statuses[i] = v.status
	}
	return SignatureState(statuses)
}

// signedData is a CDR's OCPI signed_data: the session's records that
// decode as OCMF (one that does not, kept as invalid, cannot be put in
// OCPI's form), nil when there are none.
func signedData(values []signedValue, key string) (*tariffs.SignedData, error) {
	var in []ocmf.Signed
	for _, v := range values {
		if res, err := ocmf.Check(v.value, key); err == nil && res.Record != nil {
			in = append(in, v.value)
		}
	}
	if len(in) == 0 {
		return nil, nil
	}
	sd, err := ocmf.BuildOCPI(in, key)
	if err != nil {
		return nil, err
	}
	out := &tariffs.SignedData{EncodingMethod: sd.EncodingMethod, PublicKey: sd.PublicKey, URL: sd.URL}
	for _, v := range sd.SignedValues {
		out.SignedValues = append(out.SignedValues, tariffs.SignedValue{Nature: string(v.Nature), PlainData: v.PlainData, SignedData: v.SignedData})
	}
	return out, nil
}

// WithRefused adds signed values refused past MaxSignedValues to an
// ingest result, listing them while the list has room.
func WithRefused(res ingest.Result, refused []ingest.RowError) ingest.Result {
	res.RejectedTotal = max(res.RejectedTotal, len(res.Rejected))
	for _, e := range refused {
		res.RejectedTotal++
		if len(res.Rejected) < ingest.MaxRejected {
			res.Rejected = append(res.Rejected, e)
		}
	}
	return res
}
