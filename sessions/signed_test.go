package sessions

import (
	"testing"

	"github.com/gridmetrics/gridmetrics/ocmf"
)

func TestSignatureStateIsTheWeakest(t *testing.T) {
	tests := []struct {
		in   []ocmf.Status
		want ocmf.Status
	}{
		{nil, ocmf.Unsigned},
		{[]ocmf.Status{ocmf.Verified, ocmf.Verified}, ocmf.Verified},
		{[]ocmf.Status{ocmf.Verified, ocmf.Unsupported}, ocmf.Unsupported},
		{[]ocmf.Status{ocmf.Unsupported, ocmf.Unsigned, ocmf.Verified}, ocmf.Unsigned},
		{[]ocmf.Status{ocmf.Verified, ocmf.Invalid, ocmf.Unsigned}, ocmf.Invalid},
		{[]ocmf.Status{ocmf.Verified, "bogus"}, "bogus"},
	}
	for _, tt := range tests {
		if got := SignatureState(tt.in); got != tt.want {
			t.Errorf("SignatureState(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSignedEnergyNeedsStartAndEnd(t *testing.T) {
	wh := func(v float64) *float64 { return &v }
	v := func(n ocmf.Nature, s ocmf.Status, w *float64) signedValue {
		return signedValue{nature: n, status: s, readWh: w}
	}
	a, b := signedEnergy([]signedValue{v(ocmf.NatureStart, ocmf.Verified, wh(100)), v(ocmf.NatureIntermediate, ocmf.Verified, wh(150)),
		v(ocmf.NatureEnd, ocmf.Unsupported, wh(180)), v(ocmf.NatureEnd, ocmf.Verified, wh(200))})
	if a == nil || b == nil || *a != 100 || *b != 200 {
		t.Fatalf("start %v, end %v; want 100, 200", a, b)
	}
	for name, vs := range map[string][]signedValue{
		"no end":                {v(ocmf.NatureStart, ocmf.Verified, wh(100))},
		"invalid end":           {v(ocmf.NatureStart, ocmf.Verified, wh(100)), v(ocmf.NatureEnd, ocmf.Invalid, wh(200))},
		"end without a reading": {v(ocmf.NatureStart, ocmf.Verified, wh(100)), v(ocmf.NatureEnd, ocmf.Verified, nil)},
	} {
		if a, b := signedEnergy(vs); a != nil || b != nil {
			t.Errorf("%s: start %v, end %v; want none", name, a, b)
		}
	}
}
