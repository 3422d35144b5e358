package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-ID"

const requestIDKey = "gridmetrics.request_id"

// Meta is the "meta" member of every response.
type Meta struct {
	RequestID string `json:"request_id"`
}

type envelope struct {
	Data       any         `json:"data"`
	Meta       Meta        `json:"meta"`
	Pagination *Pagination `json:"pagination,omitempty"`
}

// requestID honours a sane X-Request-ID from the caller or makes one, and
// echoes it on the response.
func requestID(c *fiber.Ctx) error {
	setRequestID(c, c.Get(HeaderRequestID))
	return c.Next()
}

func setRequestID(c *fiber.Ctx, id string) {
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Locals(requestIDKey, id)
	c.Set(HeaderRequestID, id)
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts ids up to 128 printable ASCII characters, so a
// caller's id can be logged and echoed without escaping.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// RequestID returns the id of the request being served.
func RequestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDKey).(string)
	return id
}

func metaOf(c *fiber.Ctx) Meta { return Meta{RequestID: RequestID(c)} }

// OK renders data in the envelope with status 200.
func OK(c *fiber.Ctx, data any) error {
	return c.Status(http.StatusOK).JSON(envelope{Data: data, Meta: metaOf(c)})
}

// Created renders data in the envelope with status 201.
func Created(c *fiber.Ctx, data any) error {
	return c.Status(http.StatusCreated).JSON(envelope{Data: data, Meta: metaOf(c)})
}

// List renders a page of items with its pagination.
func List(c *fiber.Ctx, items any, p Pagination) error {
	return c.Status(http.StatusOK).JSON(envelope{Data: items, Meta: metaOf(c), Pagination: &p})
}

// NoContent answers 204 with no body.
func NoContent(c *fiber.Ctx) error { return c.SendStatus(http.StatusNoContent) }

// DecodeJSON decodes a JSON request body (read with ReadBody) into v,
// rejecting unknown fields, trailing data and type mismatches with a
// VALIDATION_ERROR that names the field.
func DecodeJSON(c *fiber.Ctx, v any) error {
	body, err := ReadBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Validation("", "request body is empty; send a JSON object")
	}
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != fiber.MIMEApplicationJSON {
			return Validation("", "content type %q is not supported; send application/json", ct)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Validation("", "unexpected data after the JSON object")
	}
	return nil
}

func jsonError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return Validation(typeErr.Field, "must be %s, not %s", typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Validation("", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Validation(field, "unknown field")
	default:
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return apiErr
		}
		return Validation("", "malformed JSON: %v", fmt.Sprint(err))
	}
}
