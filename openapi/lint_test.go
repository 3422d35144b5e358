package openapi

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLint runs Redocly CLI, a linter from npm, over the document with the
// rules of test/openapi/redocly.yaml. Its packages are installed there
// (npm ci) on first use; without Node the test is skipped, as the other
// Node harnesses are.
func TestLint(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed: the linter is a Node program")
	}
	dir, err := filepath.Abs("../test/openapi")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "node_modules", ".bin", "redocly")
	if _, err := os.Stat(bin); err != nil {
		install := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in test/openapi: %v\n%s", err, out)
		}
	}
	doc, err := filepath.Abs("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	lint := exec.Command(bin, "lint", "--config", filepath.Join(dir, "redocly.yaml"), doc)
	lint.Dir = dir
	// No telemetry and no update check: the test runs offline.
	lint.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	out, err := lint.CombinedOutput()
	if err != nil {
		t.Fatalf("redocly lint: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
