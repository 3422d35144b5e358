package tariffs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hostileObject is a tariff whose top-level object has n extra keys, each
// a near miss of a known field (so each is an unknown field with a
// "did you mean" search), with every tenth key repeated.
func hostileObject(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"country_code":"DE","party_id":"ABC","id":"t1","currency":"EUR","last_updated":"2024-01-01T00:00:00Z",` +
		`"elements":[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}]`)
	for i := range n {
		fmt.Fprintf(&b, `,"currenc%d":1`, i/10*10)
	}
	b.WriteString("}")
	return b.Bytes()
}

// hostileElements is a tariff with n elements, each wrong in several ways.
func hostileElements(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"country_code":"DE","party_id":"ABC","id":"t1","currency":"EUR","last_updated":"2024-01-01T00:00:00Z","elements":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"price_components":[{"type":"NOPE","price":"x","step_size":-1}],"restrictions":{"start_time":"25:00"},"bogus":1}`)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// TestHostileTariffIsBoundedAndCapped: a tariff of 100k keys in one object,
// or 100k invalid elements, is refused in bounded time with a capped
// problem list whose last entry says how many more there were, and where
// reading stopped once the list was full.
func TestHostileTariffIsBoundedAndCapped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(n int) []byte
		// wantFirst is the first problem, to show the list is the head.
		wantFirst string
		// wantMore is the number of problems past the cap, at least.
		wantMore int
	}{
		{"100k keys in one object", hostileObject, "currenc0: duplicate field", 9_000},
		{"100k invalid elements", hostileElements, "elements[0]", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parse := func(n int) (*ValidationError, time.Duration) {
				data := tc.make(n)
				start := time.Now()
				_, err := ParseTariff(data)
				took := time.Since(start)
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a *ValidationError", err)
				}
				t.Logf("%d: %d bytes in %s, %d problems found, unchecked from %q", n, len(data), took, ve.Total, ve.UncheckedFrom)
				return ve, took
			}
			// Linear: ten times the input takes about ten times as long
			// (the quadratic duplicate check took a hundred times), and
			// never long. The ratio holds under -race and on a busy machine.
			_, small := parse(10_000)
			ve, large := parse(100_000)
			if large > 25*small+time.Second || large > time.Minute {
				t.Errorf("100k took %s, 10k %s: not linear", large, small)
			}
			if len(ve.Problems) != MaxProblems+1 {
				t.Fatalf("%d problems, want %d and a last one that counts the rest", len(ve.Problems), MaxProblems+1)
			}
			if !strings.HasPrefix(ve.Problems[0].String(), tc.wantFirst) {
				t.Errorf("first problem %q, want %q…", ve.Problems[0], tc.wantFirst)
			}
			last := ve.Problems[MaxProblems]
			var more int
			if _, err := fmt.Sscanf(last.Message, "… and %d more problems", &more); err != nil || more < tc.wantMore {
				t.Errorf("last problem %q: want \"… and N more problems\" with N ≥ %d", last, tc.wantMore)
			}
			if ve.Total != MaxProblems+more {
				t.Errorf("Total %d, want %d", ve.Total, MaxProblems+more)
			}
			// Once the list is full the elements are left unread, and
			// the answer says from where.
			if !strings.HasPrefix(ve.UncheckedFrom, "elements[") || !strings.Contains(last.Message, "checking stopped at "+ve.UncheckedFrom) {
				t.Errorf("unchecked from %q, and said in %q", ve.UncheckedFrom, last)
			}
		})
	}
}

// TestValidateStopsAtTheCap: a tariff built in Go with 100k invalid
// elements is checked up to the cap, not element by element to the end.
func TestValidateStopsAtTheCap(t *testing.T) {
	t.Parallel()
	tar, err := ParseTariff([]byte(`{"country_code":"DE","party_id":"ABC","id":"t1","currency":"EUR","last_updated":"2024-01-01T00:00:00Z",
		"elements":[{"price_components":[{"type":"ENERGY","price":0.3,"step_size":1}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	bad := tar.Elements[0]
	bad.PriceComponents = []PriceComponent{{Type: "NOPE"}}
	tar.Elements = make([]Element, 100_000)
	for i := range tar.Elements {
		tar.Elements[i] = bad
	}
	var ve *ValidationError
	if err := tar.Validate(); !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *ValidationError", err)
	}
	if len(ve.Problems) != MaxProblems+1 || !strings.HasPrefix(ve.UncheckedFrom, "elements[") || ve.UncheckedFrom == "elements[0]" {
		t.Errorf("%d problems, unchecked from %q; last %q", len(ve.Problems), ve.UncheckedFrom, ve.Problems[len(ve.Problems)-1])
	}
}
