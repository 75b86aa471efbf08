package manifests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Format is an output format accepted by --output.
type Format string

// Output formats.
const (
	FormatYAML Format = "yaml" // one document per object, separated by ---
	FormatJSON Format = "json" // one v1 List holding every object
)

// Encode writes objs in format. The API types marshal zero values such as
// `creationTimestamp: null` and `status: {}`; Encode drops those, so the
// output reads like a hand-written manifest and decodes to the same objects.
func Encode(w io.Writer, objs []any, format Format) error {
	clean := make([]any, len(objs))
	for i, o := range objs {
		m, err := toMap(o)
		if err != nil {
			return err
		}
		delete(m, "status")
		clean[i] = prune(m)
	}
	var out []byte
	switch format {
	case FormatJSON:
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": clean}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		out = append(b, '\n')
	case FormatYAML:
		var buf bytes.Buffer
		for i, o := range clean {
			b, err := yaml.Marshal(o)
			if err != nil {
				return fmt.Errorf("encode YAML: %w", err)
			}
			if i > 0 {
				buf.WriteString("---\n")
			}
			buf.Write(b)
		}
		out = buf.Bytes()
	default:
		return fmt.Errorf("unknown output format %q (yaml or json)", format)
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write manifests: %w", err)
	}
	return nil
}

func toMap(o any) (map[string]any, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", o, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("re-decode %T: %w", o, err)
	}
	return m, nil
}

// keepEmpty lists keys whose empty object is meaningful (an emptyDir volume
// with default settings).
var keepEmpty = map[string]bool{"emptyDir": true}

// prune removes nulls and empty objects, depth first.
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			c = prune(c)
			if c == nil {
				delete(t, k)
				continue
			}
			if cm, ok := c.(map[string]any); ok && len(cm) == 0 && !keepEmpty[k] {
				delete(t, k)
				continue
			}
			t[k] = c
		}
		return t
	case []any:
		for i, c := range t {
			t[i] = prune(c)
		}
		return t
	default:
		return v
	}
}
