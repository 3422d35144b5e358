package api

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Page limits used when a route does not choose its own.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 1000
)

// PageRequest is a parsed page/limit pair; pages count from 1.
type PageRequest struct {
	Page  int
	Limit int
}

// Offset is the number of rows before the page.
func (p PageRequest) Offset() int { return (p.Page - 1) * p.Limit }

// ParsePage reads ?page= and ?limit= (defaults 1 and DefaultPageLimit,
// limit at most MaxPageLimit).
func ParsePage(c *fiber.Ctx) (PageRequest, error) {
	p := PageRequest{Page: 1, Limit: DefaultPageLimit}
	var err error
	if p.Page, err = intQuery(c, "page", 1, 1, 1<<30); err != nil {
		return p, err
	}
	if p.Limit, err = intQuery(c, "limit", DefaultPageLimit, 1, MaxPageLimit); err != nil {
		return p, err
	}
	return p, nil
}

func intQuery(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	s := c.Query(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, Validation(name, "%q must be an integer from %d to %d", s, lo, hi)
	}
	return n, nil
}

// Pagination describes where a list response sits in the whole: by page
// (Page, Limit, Total, TotalPages) or, for large pulls, by cursor
// (Limit, NextCursor; empty when there is nothing more).
type Pagination struct {
	Page       int    `json:"page,omitempty"`
	Limit      int    `json:"limit"`
	Total      *int64 `json:"total,omitempty"`
	TotalPages *int64 `json:"total_pages,omitempty"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// PagePagination builds the pagination of a page with the total row count.
func PagePagination(p PageRequest, total int64) Pagination {
	pages := (total + int64(p.Limit) - 1) / int64(p.Limit)
	return Pagination{Page: p.Page, Limit: p.Limit, Total: &total, TotalPages: &pages}
}

// EncodeCursor turns a position (any JSON-encodable value, typically the
// sort key of the last row served) into an opaque cursor string.
func EncodeCursor(position any) string {
	b, err := json.Marshal(position)
	if err != nil {
		panic("api: cursor position not encodable: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by EncodeCursor into position; a cursor
// that was not made by it is a VALIDATION_ERROR on the "cursor" parameter.
func DecodeCursor(cursor string, position any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err == nil {
		err = json.Unmarshal(b, position)
	}
	if err != nil {
		return Validation("cursor", "malformed cursor; pass next_cursor from the previous page unchanged")
	}
	return nil
}
