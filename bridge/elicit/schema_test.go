package elicit

import (
	"encoding/json"
	"strings"
	"testing"
)

const everything = `{"type":"object","properties":{
	"name":{"title":"String","type":"string","description":"Your full, legal name"},
	"check":{"type":"boolean"},
	"email":{"type":"string","format":"email"},
	"integer":{"type":"integer","minimum":1,"maximum":100,"default":42},
	"friend":{"type":"string","enum":["Monica","Rachel"],"default":"Monica"},
	"instruments":{"type":"array","minItems":1,"maxItems":2,"items":{"type":"string","enum":["Guitar","Piano","Drums"]},"default":["Guitar"]},
	"hero":{"type":"string","oneOf":[{"const":"hero-1","title":"Superman"},{"const":"hero-2","title":"Wonder Woman"}]},
	"pet":{"type":"string","enum":["pet-1","pet-2"],"enumNames":["Cats","Dogs"]}},
	"required":["name"]}`

func TestParseForm_KeepsTheServersOrderAndKinds(t *testing.T) {
	f, err := ParseForm(json.RawMessage(everything))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fl := range f.Fields {
		got = append(got, fl.Name)
	}
	if strings.Join(got, " ") != "name check email integer friend instruments hero pet" {
		t.Errorf("fields in order %q, want the schema's order", got)
	}
	kinds := map[string]Kind{"name": KindString, "check": KindBoolean, "integer": KindInteger, "friend": KindSelect,
		"instruments": KindMultiSelect, "hero": KindSelect, "pet": KindSelect}
	for _, fl := range f.Fields {
		if k, ok := kinds[fl.Name]; ok && fl.Kind != k {
			t.Errorf("%s: kind %d, want %d", fl.Name, fl.Kind, k)
		}
	}
	if !f.Fields[0].Required || f.Fields[1].Required || f.Fields[0].Label() != "String" {
		t.Errorf("name: %+v, want required and labelled by its title", f.Fields[0])
	}
	if o := f.Fields[7].Options; len(o) != 2 || o[1] != (Option{"pet-2", "Dogs"}) {
		t.Errorf("legacy enumNames: %+v", o)
	}
	if _, missing := f.Defaults(); missing != "name" {
		t.Errorf("Defaults: missing %q, want name (required, no default)", missing)
	}
}

func TestField_ParseWhatAPersonTypes(t *testing.T) {
	f, err := ParseForm(json.RawMessage(everything))
	if err != nil {
		t.Fatal(err)
	}
	field := map[string]Field{}
	for _, fl := range f.Fields {
		field[fl.Name] = fl
	}
	for _, tc := range []struct {
		field, in, want, err string
	}{
		{"name", " Ada ", `"Ada"`, ""},
		{"check", "Y", "true", ""},
		{"check", "no", "false", ""},
		{"check", "maybe", "", "want y or n"},
		{"email", "ada@example.com", `"ada@example.com"`, ""},
		{"email", "ada at example", "", "not an email address"},
		{"integer", "7", "7", ""},
		{"integer", "7.5", "", "not an integer"},
		{"integer", "500", "", "at most 100"},
		{"integer", "x", "", "not an integer"},
		{"friend", "2", `"Rachel"`, ""},
		{"friend", "Monica", `"Monica"`, ""},
		{"friend", "3", "", "choose 1 to 2"},
		{"hero", "wonder woman", `"hero-2"`, ""},
		{"pet", "Dogs", `"pet-2"`, ""},
		{"instruments", "1, 3", `["Guitar","Drums"]`, ""},
		{"instruments", "1,2,3", "", "choose at most 2"},
		{"instruments", "", "", "choose at least 1"},
	} {
		v, err := field[tc.field].Parse(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %q: %s, %v; want error %q", tc.field, tc.in, v, err, tc.err)
		case tc.err == "" && (err != nil || string(v) != tc.want):
			t.Errorf("%s %q: %s, %v; want %s", tc.field, tc.in, v, err, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	for u, want := range map[string]string{
		"https://auth.example.com/x?y=1": "",
		"http://auth.example.com/x":      "only https",
		"https://user:pw@example.com/":   "credentials",
		"https:///nohost":                "no host",
		"javascript:alert(1)":            "only https",
	} {
		err := CheckURL(u)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckURL(%q) = %v, want %q", u, err, want)
		}
	}
}
