package render

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/ipfailover/ipfailover/templates"
)

// Template is a parsed keepalived.conf template.
type Template struct {
	t *template.Template
}

// Default returns the embedded template.
func Default() (*Template, error) {
	return Parse("keepalived.conf.tmpl", templates.Keepalived)
}

// Parse parses a template text. Templates get sprig's hermetic functions
// (nothing that reads the environment, the clock or randomness, so the same
// data always renders the same bytes) and fail on a missing map key.
func Parse(name, text string) (*Template, error) {
	// A file without a single action is not a template but some other
	// file named by mistake; its lines would reach keepalived -t's error
	// output and the log.
	if !strings.Contains(text, "{{") {
		return nil, &TemplateError{Name: name, Op: "parse", msg: "contains no template action ({{ ... }}): is this the right file?"}
	}
	t, err := template.New(name).
		Option("missingkey=error").
		Funcs(sprig.HermeticTxtFuncMap()).
		Parse(text)
	if err != nil {
		return nil, &TemplateError{Name: name, Op: "parse", msg: excerpt(err.Error())}
	}
	return &Template{t: t}, nil
}

// TemplateError is a template that cannot be parsed or executed. Its
// message carries at most the line number and a short excerpt: the
// template path comes from the environment, and a wrong path (a secrets
// file, say) must not end up in the log.
type TemplateError struct {
	Name string // template path or name
	Op   string // "parse" or "execute"
	msg  string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("OPENSHIFT_HA_KEEPALIVED_TEMPLATE: %s template %s: %s", e.Op, e.Name, e.msg)
}

// maxExcerpt bounds the part of text/template's message that is kept.
const maxExcerpt = 60

// excerpt shortens text/template's message ("template: NAME:LINE: what")
// to the line number and the first maxExcerpt printable characters of what.
func excerpt(msg string) string {
	line := ""
	if i := strings.Index(msg, ":"); i >= 0 && strings.HasPrefix(msg, "template: ") {
		rest := msg[i+1:]
		// rest is " NAME:LINE: what" (NAME may contain ':'): take the
		// first ":<digits>:" as the line.
		for j := 0; j < len(rest); j++ {
			if rest[j] != ':' {
				continue
			}
			k := j + 1
			for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
				k++
			}
			if k > j+1 && k < len(rest) && rest[k] == ':' {
				line, msg = rest[j+1:k], strings.TrimSpace(rest[k+1:])
				break
			}
		}
	}
	clean := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, msg)
	if len(clean) > maxExcerpt {
		clean = clean[:maxExcerpt] + "..."
	}
	if line != "" {
		return "line " + line + ": " + clean
	}
	return clean
}

// Execute renders d.
func (t *Template) Execute(d Data) ([]byte, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&b, d); err != nil {
		return nil, &TemplateError{Name: t.t.Name(), Op: "execute", msg: excerpt(err.Error())}
	}
	return b.Bytes(), nil
}
