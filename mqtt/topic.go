package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Topic is a message's topic in the layout
// {prefix}/{tenant}/{preset}/{levels…}: the tenant's public id, the name of
// the preset that decodes the payload, and the levels after it, which name
// the device and, for some presets, what the payload holds.
type Topic struct {
	Name   string // the whole topic, as received
	Tenant string
	Preset string
	Levels []string
}

// ParseTopic splits a topic in the layout {prefix}/{tenant}/{preset}/{levels…}.
// The prefix may itself have several levels ("site/gridmetrics"). The tenant
// is a tenant's public id (ten_…); ParseTopic only checks that it is
// printable text without the wildcards '+' and '#', the store resolves it.
// The topic must be valid UTF-8 without NUL, so that device names taken from
// its levels can be stored; it needs at least one level after the preset.
func ParseTopic(prefix, topic string) (Topic, error) {
	if prefix == "" {
		return Topic{}, errors.New("topic: empty prefix")
	}
	if !utf8.ValidString(topic) {
		return Topic{}, errors.New("topic: not valid UTF-8")
	}
	if strings.IndexByte(topic, 0) >= 0 {
		return Topic{}, errors.New("topic: contains NUL")
	}
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return Topic{}, fmt.Errorf("topic: not under the prefix %q", prefix)
	}
	tenant, rest, _ := strings.Cut(rest, "/")
	if tenant == "" {
		return Topic{}, errors.New("topic: empty tenant level")
	}
	for _, r := range tenant {
		if r == '+' || r == '#' || !unicode.IsPrint(r) {
			return Topic{}, fmt.Errorf("topic: tenant %q is not printable text without '+' and '#'", tenant)
		}
	}
	preset, rest, hasLevels := strings.Cut(rest, "/")
	if preset == "" {
		return Topic{}, errors.New("topic: empty preset level")
	}
	if _, ok := presets[preset]; !ok {
		return Topic{}, fmt.Errorf("topic: unknown preset %q (presets: %s)", preset, strings.Join(Presets, ", "))
	}
	if !hasLevels {
		return Topic{}, fmt.Errorf("topic: no levels after the preset %q", preset)
	}
	return Topic{Name: topic, Tenant: tenant, Preset: preset, Levels: strings.Split(rest, "/")}, nil
}

// joinDevice joins the levels that name a device, which must be there and
// not empty: a connector "CB-0042/1" is the levels CB-0042, 1.
func joinDevice(levels []string) (string, error) {
	if len(levels) == 0 {
		return "", errors.New("topic: no device levels")
	}
	for i, l := range levels {
		if l == "" {
			return "", fmt.Errorf("topic: device level %d is empty", i+1)
		}
	}
	return strings.Join(levels, "/"), nil
}
