// Package ocpischema holds a JSON Schema (draft 2020-12) of the OCPI 2.2.1
// CDR and Tariff objects, written from the specification's module texts
// independently of the tariffs codec, and validates documents against it.
// Tests use it to check that every CDR the service produces is one a
// roaming partner accepts; it is not linked into the service.
package ocpischema

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/pb33f/jsonschema/v6"
)

//go:embed ocpi-2.2.1.schema.json
var document []byte

const resource = "ocpi-2.2.1.schema.json"

var compiled = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", resource, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(resource, doc); err != nil {
		return nil, err
	}
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"CDR", "Tariff"} {
		s, err := c.Compile(resource + "#/$defs/" + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
})

// CDR validates data as an OCPI 2.2.1 CDR object; the error names every
// member that breaks the schema.
func CDR(data []byte) error { return validate("CDR", data) }

// Tariff validates data as an OCPI 2.2.1 Tariff object.
func Tariff(data []byte) error { return validate("Tariff", data) }

func validate(name string, data []byte) error {
	schemas, err := compiled()
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := schemas[name].Validate(v); err != nil {
		return fmt.Errorf("not an OCPI 2.2.1 %s: %w", name, err)
	}
	return nil
}
