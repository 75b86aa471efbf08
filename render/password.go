package render

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/ipfailover/ipfailover/env"
)

// AuthPasswordVariable names the file that holds the VRRP password.
const AuthPasswordVariable = "OPENSHIFT_HA_AUTH_PASSWORD_FILE"

// authPasswordFileMax bounds what ReadAuthPassword reads: far more than a
// valid password plus its newline, far less than a mistaken file.
const authPasswordFileMax = 64

// authPasswordUnsafe are the printable characters a password may not hold:
// they end, open or comment out keepalived.conf syntax ('"', braces, '#',
// '!', '\\') or trigger its parameter substitution ('$').
const authPasswordUnsafe = "\"{}#!\\$"

// Secret is the VRRP password in render.Options. Every way of printing or
// encoding it (fmt verbs, JSON, slog) shows "[redacted]"; only the template
// data gets the value, through Instance.AuthPass.
type Secret string

const redacted = "[redacted]"

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb (%v, %s, %q, %x...).
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// ReadAuthPassword reads the VRRP password from path (the value of
// OPENSHIFT_HA_AUTH_PASSWORD_FILE, usually a mounted Secret). The content,
// without one trailing newline, must be 1 to 8 bytes of printable ASCII
// without spaces or the characters that would break keepalived.conf. Every
// error is an *env.InvalidError naming the variable and the path, never the
// content (nor its length or position of a bad byte).
func ReadAuthPassword(path string) (string, error) {
	bad := func(reason string) error {
		return &env.InvalidError{Problems: []env.Problem{{Variable: AuthPasswordVariable, Value: path, Reason: reason}}}
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the problem already
		}
		return "", bad(fmt.Sprintf("cannot read the VRRP password file: %v", err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, authPasswordFileMax+1))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", bad(fmt.Sprintf("cannot read the VRRP password file: %v", err))
	}
	if len(b) > authPasswordFileMax {
		return "", bad(fmt.Sprintf("the file is larger than %d bytes; it must hold only the VRRP password: %s", authPasswordFileMax, authPasswordRule))
	}
	pw := string(b)
	if s, ok := strings.CutSuffix(pw, "\n"); ok {
		pw = strings.TrimSuffix(s, "\r")
	}
	if reason := checkAuthPassword(pw); reason != "" {
		return "", bad(reason)
	}
	return pw, nil
}

// authPasswordRule is what a valid password is, for messages.
const authPasswordRule = `1 to 8 bytes of printable ASCII without spaces, quotes ("), braces ({ }), '#', '!', '$' or backslashes (one trailing newline is ignored)`

// checkAuthPassword returns why pw cannot be the VRRP password, or "". The
// reason never quotes pw.
func checkAuthPassword(pw string) string {
	switch {
	case pw == "":
		return "the VRRP password file is empty; it must hold " + authPasswordRule
	case len(pw) > authPassLen:
		return fmt.Sprintf("the VRRP password is longer than %d bytes, the most VRRPv2 authentication carries; it must be %s", authPassLen, authPasswordRule)
	}
	for i := 0; i < len(pw); i++ {
		c := pw[i]
		if c <= ' ' || c > '~' || strings.IndexByte(authPasswordUnsafe, c) >= 0 {
			return "the VRRP password has a character that is not allowed; it must be " + authPasswordRule
		}
	}
	return ""
}
