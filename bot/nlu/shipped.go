package nlu

import (
	"embed"
	"fmt"
)

// shipped holds the models `nuanjia train` wrote from the labelled data
// and the demo knowledge base. Read-only data compiled in, so every
// binary and test decides the same way; a test fails when they are stale.
//
//go:embed models/intent.json models/urgent.json models/danger.json
var shipped embed.FS

// Where the shipped models live, relative to this package.
const (
	IntentModelFile = "models/intent.json"
	UrgentModelFile = "models/urgent.json"
	DangerModelFile = "models/danger.json"
)

// ShippedModels parses the models compiled into the binary.
func ShippedModels() (Models, error) {
	var out Models
	for _, f := range []struct {
		name string
		into **Model
	}{{IntentModelFile, &out.Intent}, {UrgentModelFile, &out.Urgent}, {DangerModelFile, &out.Danger}} {
		b, err := shipped.ReadFile(f.name)
		if err != nil {
			return Models{}, fmt.Errorf("shipped model: %w", err)
		}
		m, err := ParseModel(b)
		if err != nil {
			return Models{}, fmt.Errorf("shipped %s: %w", f.name, err)
		}
		*f.into = m
	}
	return out, nil
}
