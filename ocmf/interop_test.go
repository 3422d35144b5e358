package ocmf

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The interop test checks this package against @road-labs/ocmf, an
// independent implementation, through the Node harness in test/ocmf: its
// records verify here, a one-byte change makes them invalid, and records
// signed here verify there. The harness's npm packages are installed on
// first use and kept (node_modules is newer than package-lock.json).

const harnessDir = "../test/ocmf"

// nodeHarness returns the node binary, the packages installed; it skips
// only when Node.js itself is missing.
func nodeHarness(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the OCMF interop test runs @road-labs/ocmf under Node.js")
	}
	modules := filepath.Join(harnessDir, "node_modules")
	lock, err := os.Stat(filepath.Join(harnessDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m, err := os.Stat(modules); err == nil && !lock.ModTime().After(m.ModTime()) {
		return node
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("node is installed but npm is not: the harness's packages cannot be installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = harnessDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", harnessDir, err, out)
	}
	// npm leaves node_modules' time alone when nothing changed; mark it
	// fresh so the next run does not install again.
	now := time.Now()
	if err := os.Chtimes(modules, now, now); err != nil {
		t.Fatal(err)
	}
	return node
}

// runHarness runs harness.cjs with mode and stdin, decoding its JSON.
func runHarness(t *testing.T, node, mode string, in, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "harness.cjs", mode)
	cmd.Dir = harnessDir
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdin = bytes.NewReader(b)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node harness.cjs %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("harness output: %v\n%s", err, b)
	}
}

type harnessRecord struct {
	Name      string `json:"name"`
	Curve     string `json:"curve"`
	Record    string `json:"record"`
	PublicKey string `json:"publicKey"`
}

// tamperPayload changes the first digit of the first reading's value.
func tamperPayload(t *testing.T, record string) string {
	t.Helper()
	i := strings.Index(record, `"RV":`)
	if i < 0 {
		t.Fatalf("no RV in %s", record)
	}
	i += len(`"RV":`)
	b := []byte(record)
	b[i] = '0' + (b[i]-'0'+1)%10
	return string(b)
}

// tamperSignature changes one hex digit in the middle of SD.
func tamperSignature(t *testing.T, record string) string {
	t.Helper()
	i := strings.Index(record, `"SD":"`)
	if i < 0 {
		t.Fatalf("no SD in %s", record)
	}
	i += len(`"SD":"`) + 40
	b := []byte(record)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

func TestInteropRoadLabs(t *testing.T) {
	node := nodeHarness(t)

	t.Run("signed there, verified here", func(t *testing.T) {
		var records []harnessRecord
		runHarness(t, node, "sign", nil, &records)
		want := map[string]struct {
			status Status
			nature Nature
			wh     []float64
		}{
			"begin-p256":      {Verified, NatureStart, []float64{2935600}},
			"end-p256":        {Verified, NatureEnd, []float64{2947100}},
			"both-p384":       {Verified, NatureEnd, []float64{2935600, 2947100}},
			"begin-brainpool": {Unsupported, NatureStart, []float64{12500}},
		}
		if len(records) != len(want) {
			t.Fatalf("%d records from the harness", len(records))
		}
		for _, r := range records {
			w, ok := want[r.Name]
			if !ok {
				t.Fatalf("unexpected record %q", r.Name)
			}
			res, err := Check(Signed{Data: r.Record}, r.PublicKey)
			if err != nil {
				t.Fatalf("%s: %v\n%s", r.Name, err, r.Record)
			}
			if res.Verification.Status != w.status || res.Nature != w.nature {
				t.Fatalf("%s: %+v nature %s, want %s %s\n%s", r.Name, res.Verification, res.Nature, w.status, w.nature, r.Record)
			}
			if len(res.Record.Readings) != len(w.wh) {
				t.Fatalf("%s: %d readings", r.Name, len(res.Record.Readings))
			}
			for i, rd := range res.Record.Readings {
				if !rd.Energy || rd.Wh != w.wh[i] || rd.TimeStatus != TimeSynchronous || rd.Time.IsZero() {
					t.Fatalf("%s reading %d: %+v", r.Name, i, rd)
				}
			}
			if w.status != Verified {
				continue
			}
			for name, tampered := range map[string]string{"payload": tamperPayload(t, r.Record), "signature": tamperSignature(t, r.Record)} {
				res, err := Check(Signed{Data: tampered}, r.PublicKey)
				if err != nil {
					t.Fatalf("%s with one byte of its %s changed: %v", r.Name, name, err)
				}
				if res.Verification.Status != Invalid {
					t.Fatalf("%s with one byte of its %s changed: %+v", r.Name, name, res.Verification)
				}
			}
		}
	})

	t.Run("signed here, verified there", func(t *testing.T) {
		type item struct {
			Record    string `json:"record"`
			PublicKey string `json:"publicKey"`
		}
		type verdict struct {
			Verified bool   `json:"verified"`
			Error    string `json:"error"`
		}
		var items []item
		var want []bool
		for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
			key := newKey(t, curve)
			pub := publicKeyHex(t, key)
			record := signRecord(t, key, samplePayload)
			items = append(items, item{record, pub}, item{tamperPayload(t, record), pub}, item{tamperSignature(t, record), pub})
			want = append(want, true, false, false)
		}
		var got []verdict
		runHarness(t, node, "verify", items, &got)
		if len(got) != len(want) {
			t.Fatalf("%d verdicts for %d records", len(got), len(want))
		}
		for i := range want {
			if got[i].Verified != want[i] {
				t.Errorf("record %d: %+v, want verified %v\n%s", i, got[i], want[i], items[i].Record)
			}
			if want[i] && got[i].Error != "" {
				t.Errorf("record %d: %s", i, got[i].Error)
			}
		}
	})
}
