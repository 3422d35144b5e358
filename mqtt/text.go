package mqtt

import "strings"

// validText is s as PostgreSQL text can hold it: invalid UTF-8 replaced,
// NUL bytes removed.
func validText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
