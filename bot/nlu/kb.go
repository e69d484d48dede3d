package nlu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"nuanjia/bot"
)

// ParseKnowledge decodes a knowledge-base YAML file strictly: a misspelt
// field is an error rather than silently missing data. It does not
// validate; call Validate for that.
func ParseKnowledge(yamlBytes []byte) (bot.Knowledge, error) {
	var kb bot.Knowledge
	dec := yaml.NewDecoder(bytes.NewReader(yamlBytes))
	dec.KnownFields(true)
	if err := dec.Decode(&kb); err != nil {
		if errors.Is(err, io.EOF) {
			return kb, errors.New("knowledge base: empty document")
		}
		return kb, fmt.Errorf("knowledge base: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return kb, errors.New("knowledge base: more than one YAML document")
	}
	return kb, nil
}

// validID reports whether id is non-empty [a-z0-9-]+: ids appear in
// URLs, menu keys and log lines.
func validID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return id != ""
}

// Validate checks everything New and the handlers rely on and reports every
// problem at once, each naming its entry and field, so a director fixing the
// file sees the whole list in one go.
func Validate(kb bot.Knowledge) error {
	var errs []error
	bad := func(kind string, i int, id, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s[%d] (id %q): %s", kind, i, id, fmt.Sprintf(format, args...)))
	}
	if len(kb.Branches) == 0 {
		errs = append(errs, errors.New("branches: none defined"))
	}
	// checkID reports a missing, malformed or repeated id in one section.
	checkID := func(kind string, i int, id string, seen map[string]int) {
		switch {
		case id == "":
			bad(kind, i, id, "id: missing")
		case !validID(id):
			bad(kind, i, id, "id: %q must match [a-z0-9-]+", id)
		}
		if j, dup := seen[id]; dup && id != "" {
			bad(kind, i, id, "id: duplicate of %s[%d]", kind, j)
		} else {
			seen[id] = i
		}
	}
	seen := map[string]int{}
	county := false
	for i, b := range kb.Branches {
		checkID("branches", i, b.ID, seen)
		if b.ID == bot.CountyBranchID {
			county = true
		}
		if strings.TrimSpace(b.Name) == "" {
			bad("branches", i, b.ID, "name: missing")
		}
		if strings.TrimSpace(b.Phone) == "" {
			bad("branches", i, b.ID, "phone: missing")
		}
		if b.Lat < -90 || b.Lat > 90 {
			bad("branches", i, b.ID, "lat: %v is outside -90..90", b.Lat)
		}
		if b.Lng < -180 || b.Lng > 180 {
			bad("branches", i, b.ID, "lng: %v is outside -180..180", b.Lng)
		}
		if b.Lat == 0 && b.Lng == 0 {
			bad("branches", i, b.ID, "lat/lng: missing (0, 0)")
		}
		for k, p := range b.Places {
			if strings.TrimSpace(p) == "" {
				bad("branches", i, b.ID, "places[%d]: empty", k)
			}
		}
		for k, d := range b.Directors {
			if strings.TrimSpace(d.Name) == "" {
				bad("branches", i, b.ID, "directors[%d].name: missing", k)
			}
			if strings.TrimSpace(d.OpenID) == "" {
				bad("branches", i, b.ID, "directors[%d].openid: missing", k)
			}
		}
	}
	if len(kb.Branches) > 0 && !county {
		errs = append(errs, fmt.Errorf("branches: no branch with id %q (the branch of last resort)", bot.CountyBranchID))
	}
	seenFAQ := map[string]int{}
	for i, f := range kb.FAQs {
		checkID("faqs", i, f.ID, seenFAQ)
		if strings.TrimSpace(f.Question) == "" {
			bad("faqs", i, f.ID, "question: missing")
		}
		if strings.TrimSpace(f.Answer) == "" {
			bad("faqs", i, f.ID, "answer: missing")
		}
		if strings.TrimSpace(f.Source) == "" {
			bad("faqs", i, f.ID, "source: missing")
		}
		if f.Updated == "" {
			bad("faqs", i, f.ID, "updated: missing")
		} else if _, err := time.Parse(time.DateOnly, f.Updated); err != nil {
			bad("faqs", i, f.ID, "updated: %q is not a YYYY-MM-DD date", f.Updated)
		}
		for k, kw := range f.Keywords {
			if strings.TrimSpace(kw) == "" {
				bad("faqs", i, f.ID, "keywords[%d]: empty", k)
			}
		}
	}
	return errors.Join(errs...)
}
