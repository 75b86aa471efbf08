package render

import (
	"bytes"
	"fmt"
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
	t, err := template.New(name).
		Option("missingkey=error").
		Funcs(sprig.HermeticTxtFuncMap()).
		Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	return &Template{t: t}, nil
}

// Execute renders d.
func (t *Template) Execute(d Data) ([]byte, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("execute template %s: %w", t.t.Name(), err)
	}
	return b.Bytes(), nil
}
