package api

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// The query-parameter rules every route shares: each route reads its times
// and switches here (and its zones with ParseZone), so that one request reads alike everywhere and
// one refusal reads alike too. Parameters whose name starts with "_" are a
// client's own (cache busters) and never refused.

// maxEchoed is the most of a refused value a message repeats: the client
// sent it and knows it, and a megabyte of it need not come back.
const maxEchoed = 64

// echo quotes a refused value for a message, cut to maxEchoed bytes.
func echo(v string) string {
	if len(v) <= maxEchoed {
		return strconv.Quote(v)
	}
	cut := maxEchoed
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + "…"
}

// RejectUnknownParams refuses a query parameter the route does not take,
// naming those it does.
func RejectUnknownParams(c *fiber.Ctx, allowed []string) error {
	var err error
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if name := string(k); err == nil && !strings.HasPrefix(name, "_") && !slices.Contains(allowed, name) {
			err = Validation(echoName(name), "unknown parameter (this route takes %s)", strings.Join(allowed, ", "))
		}
	})
	return err
}

// echoName is a parameter's name for a message, cut like a value.
func echoName(name string) string {
	if len(name) <= maxEchoed {
		return name
	}
	return strings.Trim(echo(name), `"`)
}

// QueryTime reads an optional RFC 3339 time (fractions of seconds
// allowed); absent or empty is the zero time. An offset's "+" sent
// unescaped arrives as a space, and is read as the "+" it was.
func QueryTime(c *fiber.Ctx, name string) (time.Time, error) {
	return ParseQueryTime(name, c.Query(name))
}

// ParseQueryTime is QueryTime's rule for a value already read.
func ParseQueryTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	s = strings.ReplaceAll(s, " ", "+")
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, Validation(name, "%s is not an RFC 3339 time such as 2025-01-31T00:00:00Z", echo(s))
	}
	return t, nil
}

// QueryBool reads an optional switch: true or 1, false or 0; absent or
// empty is false. Other spellings (TRUE, yes, on) are refused rather than
// guessed at.
func QueryBool(c *fiber.Ctx, name string) (bool, error) {
	switch v := c.Query(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, Validation(name, "%s is not true or false", echo(v))
	}
}
