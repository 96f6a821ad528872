package detect

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// OSRelease holds the os-release(5) fields detection uses.
type OSRelease struct {
	ID         string
	VersionID  string
	PrettyName string
}

// String names the system for messages: PRETTY_NAME with ID and VERSION_ID.
func (o OSRelease) String() string {
	s := fmt.Sprintf("ID=%q VERSION_ID=%q", o.ID, o.VersionID)
	if o.PrettyName != "" {
		s = fmt.Sprintf("%s (%s)", o.PrettyName, s)
	}
	return s
}

// maxOSRelease bounds what is read: the file is a few hundred bytes, and a
// host root is not trusted to be sane.
const maxOSRelease = 64 << 10

// ParseOSRelease reads os-release(5): KEY=value lines, values optionally
// quoted with shell quoting; comments and blank lines are skipped.
func ParseOSRelease(r io.Reader) (OSRelease, error) {
	var o OSRelease
	sc := bufio.NewScanner(io.LimitReader(r, maxOSRelease))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, raw, ok := strings.Cut(line, "=")
		if !ok {
			continue // os-release(5): lines that are not assignments are ignored
		}
		val := unquote(raw)
		switch key {
		case "ID":
			o.ID = strings.ToLower(val)
		case "VERSION_ID":
			o.VersionID = val
		case "PRETTY_NAME":
			o.PrettyName = val
		}
	}
	if err := sc.Err(); err != nil {
		return OSRelease{}, err
	}
	if o.ID == "" {
		o.ID = "linux" // os-release(5): the default when ID is absent
	}
	return o, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if s[0] == '"' {
			if u, err := strconv.Unquote(s); err == nil {
				return u
			}
		}
		return s[1 : len(s)-1]
	}
	return s
}
