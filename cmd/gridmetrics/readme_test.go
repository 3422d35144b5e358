package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gridmetrics/gridmetrics/schema/dbtest"
)

// readmeExample is one curl command of the README.
type readmeExample struct {
	line         int // where it starts, 1-based
	method, path string
	body         string // inline -d '…' body, if any
	skip         string // why it is not run
}

var (
	curlURL    = regexp.MustCompile(`"?\$GRIDMETRICS_URL(/[^"\s]*)"?`)
	curlMethod = regexp.MustCompile(`(?:^|\s)-X\s+([A-Z]+)`)
	curlBody   = regexp.MustCompile(`(?s)(?:^|\s)(?:-d|--data-binary)\s+('[^']*'|"[^"]*"|\S+)`)
)

// readmeExamples finds the curl commands against $GRIDMETRICS_URL in the
// README, a command running on over lines that end in \ or inside a quoted
// body.
func readmeExamples(t *testing.T, readme string) []readmeExample {
	t.Helper()
	lines := strings.Split(readme, "\n")
	var out []readmeExample
	for i := 0; i < len(lines); i++ {
		if !strings.Contains(lines[i], "curl ") || !strings.Contains(lines[i], "$GRIDMETRICS_URL") {
			continue
		}
		start := i
		var cmd string
		var quote byte
		for {
			var code string
			code, quote = shellCode(lines[i], quote)
			cmd += code
			if (quote == 0 && !strings.HasSuffix(strings.TrimSpace(code), `\`)) || i+1 == len(lines) {
				break
			}
			cmd = strings.TrimSuffix(strings.TrimSpace(cmd), `\`) + "\n"
			i++
		}
		ex := readmeExample{line: start + 1, method: "GET"}
		u := curlURL.FindStringSubmatch(cmd)
		if u == nil {
			t.Fatalf("README.md:%d: no URL in %q", ex.line, cmd)
		}
		ex.path = u[1]
		if b := curlBody.FindStringSubmatch(cmd); b != nil {
			ex.method = "POST"
			switch body := b[1]; {
			case strings.HasPrefix(body, "'"):
				ex.body = strings.Trim(body, "'")
			default:
				ex.skip = "its body is read from a file, stdin or a command"
			}
		}
		if m := curlMethod.FindStringSubmatch(cmd); m != nil {
			ex.method = m[1]
		}
		out = append(out, ex)
	}
	return out
}

// shellCode is a line of a shell command without its comment, given the
// quote (' or ", 0 for none) open at its start; it returns the quote open
// at its end.
func shellCode(line string, quote byte) (string, byte) {
	for j := 0; j < len(line); j++ {
		switch ch := line[j]; {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '#' && (j == 0 || line[j-1] == ' '):
			return line[:j], 0
		}
	}
	return line, quote
}

// TestREADMECurlExamples runs the README's curl examples, in order, against
// the demo as a newcomer would after make run, so a documented example can
// never answer 404 (nor 401, 403, 405 or a server error: the demo key has
// every scope) again. Other refusals are logged, not failed: the examples
// carry fixed dates, which a demo loaded today may not reach (readings of
// March are older than the raw retention; the grid meter's supply tariff
// starts with the demo's week). The writes the README makes along the way
// run too (registering CB-0042 and its connector in depot-1, a tariff and
// its assignment), since later examples read what they wrote.
//
// Placeholders take the demo's or the README's own objects: src_… (and
// $S) the grid meter GRID-1 (a connector for availability), tar_… the
// tariff the README stores, ses_… a priced demo session, <next_cursor> the
// cursor of the example before. Not run, each with its reason in skip:
//   - DELETE examples: they would remove what later examples read;
//   - bodies read from a file, stdin or a command (@tariff.json, gzip |,
//     $(cat cdr.json)): the files are the reader's own;
//   - the examples that stop a session (ses_… is a demo session, already
//     priced) and change the demo's id-tag policy or tags (the OCPP id-tag
//     tests cover them).
func TestREADMECurlExamples(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := readmeExamples(t, string(raw))
	if len(examples) < 40 {
		t.Fatalf("found %d curl examples in the README; the parser lost some", len(examples))
	}

	dbURL := dbtest.NewURL(t)
	envFile := filepath.Join(t.TempDir(), "demo.env")
	cli(t, dbURL, "demo", "--env-file", envFile)
	key := readEnvValue(envFile, "GRIDMETRICS_API_KEY")
	m := startServer(t, dbURL, "--rollup-jobs=false")
	base := "http://" + m.Addr()
	c := client{t, base, key}

	grid := sourcePublicID(t, c, "GRID-1")
	connector := sourcePublicID(t, c, "CB-0001/1")
	sessions := c.do("GET", "/v1/sessions?status=priced&limit=1", "")
	session := sessions.Body["data"].([]any)[0].(map[string]any)["id"].(string)
	placeholders := map[string]string{"ses_…": session}
	var cursor string

	ran := 0
	for _, ex := range examples {
		name := fmt.Sprintf("README.md:%d %s %s", ex.line, ex.method, ex.path)
		switch {
		case ex.skip != "":
		case ex.method == "DELETE":
			ex.skip = "it would remove what later examples read"
		case strings.HasSuffix(ex.path, "/stop"):
			ex.skip = "ses_… is a priced demo session"
		case strings.HasPrefix(ex.path, "/v1/ocpp/id-tag") && ex.method != "GET":
			ex.skip = "it changes the demo's id-tag policy"
		}
		if ex.skip != "" {
			t.Logf("%s: not run: %s", name, ex.skip)
			continue
		}
		path := strings.ReplaceAll(ex.path, "$S", "src_…")
		if strings.Contains(path, "/availability") {
			path = strings.ReplaceAll(path, "src_…", connector)
		}
		path = strings.ReplaceAll(path, "src_…", grid)
		for k, v := range placeholders {
			path = strings.ReplaceAll(path, k, v)
		}
		path = strings.ReplaceAll(path, "<next_cursor>", cursor)
		if strings.Contains(path, "…") || strings.Contains(path, "<") || strings.Contains(path, "$") {
			t.Errorf("%s: placeholder left in %s", name, path)
			continue
		}
		status, body := rawDo(t, base, key, ex.method, path, ex.body)
		ran++
		switch {
		case status == 401 || status == 403 || status == 404 || status == 405 || status >= 500:
			t.Errorf("%s: %s answers %d: %s", name, path, status, body)
			continue
		case status > 299:
			t.Logf("%s: %s answers %d: %.300s", name, path, status, body)
			continue
		}
		t.Logf("%s: %d", name, status)
		var v struct {
			Data       json.RawMessage `json:"data"`
			Pagination struct {
				NextCursor string `json:"next_cursor"`
			} `json:"pagination"`
		}
		if json.Unmarshal(body, &v) == nil {
			if v.Pagination.NextCursor != "" {
				cursor = v.Pagination.NextCursor
			}
			var created struct {
				ID string `json:"id"`
			}
			if ex.method == "POST" && ex.path == "/v1/tariffs" && json.Unmarshal(v.Data, &created) == nil {
				placeholders["tar_…"] = created.ID
			}
		}
	}
	t.Logf("ran %d of %d README examples", ran, len(examples))
}
