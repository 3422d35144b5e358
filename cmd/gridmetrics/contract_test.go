package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	valerrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	oabase "github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/gridmetrics/gridmetrics/openapi"
)

// The contract check: every request the tests send to a server they
// started, and every answer, is validated against the OpenAPI document.
// It sits in http.DefaultClient's transport, so the shared client
// (client.do) and every helper that uses the default client go through it.
// A violation fails the request with an error naming the operation and
// what is wrong, and is recorded: TestMain fails the run if any was, even
// when a test let the error go by.
//
// A request the document calls invalid must be refused with a client
// error (4xx): then it is what a hostile test meant to send. A test that
// sends such a request to a route that accepts it anyway (ingest takes a
// body whose rows are refused one by one) marks it (invalidRequest,
// client.doInvalid): its answer is still validated, the request is not.
// Streamed answers (CSV, Arrow, NDJSON, Prometheus text) are checked for
// status and headers without being read, so that tests can still read
// them as streams.

// contractTransport validates the exchanges with the servers in servers.
type contractTransport struct {
	next http.RoundTripper

	compiled    sync.Once
	mu          sync.Mutex // the validator is not documented as safe for concurrent use
	v           validator.Validator
	streams     validator.Validator // without reading bodies
	model       *v3.Document
	options     *config.ValidationOptions
	errorSchema *oabase.Schema
	servers     map[string]bool // host:port of the servers the tests started
	violations  []string
}

// contract compiles the document on first use: a server process the test
// binary runs (serveArgsEnv) checks nothing, and starts seconds sooner
// without compiling it.
var contract = &contractTransport{next: http.DefaultTransport, servers: map[string]bool{}}

// compile builds the validators, once.
func (ct *contractTransport) compile() {
	ct.compiled.Do(func() {
		doc, err := libopenapi.NewDocument(openapi.Document())
		if err != nil {
			panic(fmt.Sprintf("openapi document: %v", err))
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			panic(fmt.Sprintf("openapi document: %v", errs))
		}
		model, merr := doc.BuildV3Model()
		if merr != nil {
			panic(fmt.Sprintf("openapi document: %v", merr))
		}
		proxy := model.Model.Components.Schemas.GetOrZero("Error")
		if proxy == nil {
			panic("openapi document: no Error schema")
		}
		streams, errs := validator.NewValidator(doc, config.WithoutResponseBodyValidation())
		if len(errs) > 0 {
			panic(fmt.Sprintf("openapi document: %v", errs))
		}
		ct.v, ct.streams, ct.model, ct.options, ct.errorSchema = v, streams, &model.Model, config.NewValidationOptions(), proxy.Schema()
	})
}

// install compiles the document and puts the check into
// http.DefaultClient. Compiled before the tests run, it never counts
// against a test's own timing.
func (ct *contractTransport) install() {
	ct.compile()
	http.DefaultClient.Transport = ct
}

// watch makes the exchanges with a server at addr (host:port) checked.
func (ct *contractTransport) watch(addr string) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.servers[addr] = true
}

func (ct *contractTransport) watched(host string) bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.servers[host]
}

type invalidKey struct{}

// invalidRequest marks a request as invalid on purpose: only its answer is
// validated.
func invalidRequest(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), invalidKey{}, true))
}

func isInvalid(req *http.Request) bool { b, _ := req.Context().Value(invalidKey{}).(bool); return b }

// Violation is an exchange the document does not describe.
type Violation struct {
	Operation string // "GET /v1/sources/{id}", or the request's path when none matched
	Problems  []string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("openapi contract: %s: %s", v.Operation, strings.Join(v.Problems, "; "))
}

// failingReader fails every read with err.
type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// wrap returns a transport that checks the exchanges it carries over
// next, for the tests' clients with transports of their own.
func (ct *contractTransport) wrap(next http.RoundTripper) http.RoundTripper {
	return checkedTransport{ct, next}
}

type checkedTransport struct {
	ct   *contractTransport
	next http.RoundTripper
}

func (c checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.ct.roundTrip(c.next, req)
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return ct.roundTrip(ct.next, req)
}

func (ct *contractTransport) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	if !ct.watched(req.URL.Host) {
		return next.RoundTrip(req)
	}
	ct.compile()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	fresh := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return r
	}
	var reqErrs []*valerrors.ValidationError
	// A compressed body is the server's to inflate and check.
	if !isInvalid(req) && req.Header.Get("Content-Encoding") == "" {
		ct.mu.Lock()
		_, reqErrs = ct.v.ValidateHttpRequest(fresh())
		ct.mu.Unlock()
	}
	res, err := next.RoundTrip(fresh())
	if err != nil {
		return nil, err
	}
	if err := ct.checkResponse(req, res, reqErrs); err != nil {
		res.Body.Close()
		return nil, err
	}
	return res, nil
}

// checkResponse validates an answer; a JSON body is read and put back.
// A request the document calls invalid (reqErrs) must have been refused
// with a client error: hostile tests need not mark what they send.
func (ct *contractTransport) checkResponse(req *http.Request, res *http.Response, reqErrs []*valerrors.ValidationError) error {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	isJSON := mt == "application/json"
	var raw []byte
	if isJSON {
		var err error
		raw, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			// A stream cut short (the server failed after its headers):
			// the caller reads what came and then the same error.
			res.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), failingReader{err}))
			return nil
		}
		res.Body = io.NopCloser(bytes.NewReader(raw))
	}
	copyRes := *res
	copyRes.Body = io.NopCloser(bytes.NewReader(raw))
	check := req.Clone(req.Context())
	check.Body = http.NoBody
	refused := res.StatusCode >= 400 && res.StatusCode < 500

	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(reqErrs) > 0 && !refused {
		return ct.recordLocked(req, fmt.Sprintf("request (answered %d, not refused)", res.StatusCode), reqErrs)
	}
	if _, errs := ct.v.ValidateHttpRequest(check); hasPathError(errs) {
		// No operation matches (an unknown path or method): the answer
		// must be the API's error.
		if !refused || !isJSON {
			return ct.recordLocked(req, "response", append(errs, &valerrors.ValidationError{
				Message: fmt.Sprintf("status %d %q to a request no operation matches, want a client error in JSON", res.StatusCode, mt)}))
		}
		sv := schema_validation.NewSchemaValidator()
		if ok, errs := sv.ValidateSchemaBytes(ct.errorSchema, raw); !ok {
			return ct.recordLocked(req, "response", errs)
		}
		return nil
	}
	v := ct.v
	if !isJSON {
		// A stream: status and headers only, its media type among them.
		v = ct.streams
		if err := ct.checkMediaType(check, res); err != nil {
			return ct.recordLocked(req, fmt.Sprintf("response %d", res.StatusCode), []*valerrors.ValidationError{{Message: err.Error()}})
		}
	}
	if ok, errs := v.ValidateHttpResponse(check, &copyRes); !ok {
		return ct.recordLocked(req, fmt.Sprintf("response %d", res.StatusCode), errs)
	}
	if err := checkOCPI(req, res.StatusCode, raw); err != nil {
		return ct.recordLocked(req, fmt.Sprintf("response %d", res.StatusCode), []*valerrors.ValidationError{{Message: err.Error()}})
	}
	return nil
}

// checkMediaType checks that the answer's Content-Type is one its
// operation declares for its status (the validator does so only when it
// reads the body).
func (ct *contractTransport) checkMediaType(req *http.Request, res *http.Response) error {
	item, _, _ := paths.FindPath(req, ct.model, ct.options)
	if item == nil {
		return nil
	}
	op := helpers.ExtractOperation(req, item)
	if op == nil || op.Responses == nil {
		return nil
	}
	r := op.Responses.Codes.GetOrZero(strconv.Itoa(res.StatusCode))
	if r == nil || r.Content == nil || r.Content.Len() == 0 {
		return nil // an undeclared status is the validator's to report
	}
	if _, ok := helpers.FindMediaType(r.Content, res.Header.Get("Content-Type")); !ok {
		return fmt.Errorf("media type %q is not declared for status %d", res.Header.Get("Content-Type"), res.StatusCode)
	}
	return nil
}

func hasPathError(errs []*valerrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == "path" {
			return true
		}
	}
	return false
}

func (ct *contractTransport) record(req *http.Request, what string, errs []*valerrors.ValidationError) error {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.recordLocked(req, what, errs)
}

func (ct *contractTransport) recordLocked(req *http.Request, what string, errs []*valerrors.ValidationError) error {
	op := req.Method + " " + req.URL.Path
	v := &Violation{Operation: op}
	for _, e := range errs {
		if e.SpecPath != "" {
			v.Operation = req.Method + " " + e.SpecPath
		}
		p := what + ": " + e.Message
		if e.Reason != "" {
			p += " (" + e.Reason + ")"
		}
		for _, f := range e.SchemaValidationErrors {
			p += fmt.Sprintf(" [%s: %s]", f.FieldPath, f.Reason)
		}
		v.Problems = append(v.Problems, p)
	}
	if len(v.Problems) == 0 {
		v.Problems = []string{what + ": invalid"}
	}
	ct.violations = append(ct.violations, v.Error())
	return v
}

// report prints the violations of the run; it returns whether there were
// none.
func (ct *contractTransport) report() bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, v := range ct.violations {
		fmt.Fprintln(os.Stderr, v)
	}
	return len(ct.violations) == 0
}
