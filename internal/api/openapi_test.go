package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/textback/textback/internal/api"
)

// openAPIDoc is the part of the OpenAPI document the tests look at.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Parameters map[string]openAPIParam `json:"parameters"`
	} `json:"components"`
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

type openAPIOp struct {
	Security   *[]map[string][]string     `json:"security"`
	Parameters []openAPIParam             `json:"parameters"`
	Responses  map[string]json.RawMessage `json:"responses"`
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// readOpenAPI reads the document that the binary embeds (go:embed openapi.json).
func readOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc, raw
}

// TestOpenAPIDocumentsEveryRoute checks that the route table and the
// OpenAPI document describe the same API: every route is documented with
// its method, and every documented operation is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc, _ := readOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want an OpenAPI 3 document", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("the document has no paths")
	}

	documented := map[string]openAPIOp{} // "GET /api/v1/me"
	pathParams := map[string][]openAPIParam{}
	for path, item := range doc.Paths {
		for k, raw := range item {
			if k == "parameters" {
				var ps []openAPIParam
				if err := json.Unmarshal(raw, &ps); err != nil {
					t.Errorf("%s: parameters: %v", path, err)
				}
				pathParams[path] = ps
				continue
			}
			if !httpMethods[k] {
				continue
			}
			var op openAPIOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Errorf("%s %s: %v", k, path, err)
				continue
			}
			documented[strings.ToUpper(k)+" "+path] = op
		}
	}

	routes := map[string]api.Route{}
	for _, rt := range (&api.Server{}).Routes() {
		key := rt.Method + " " + rt.Pattern
		if _, dup := routes[key]; dup {
			t.Errorf("route %s is twice in the route table", key)
		}
		routes[key] = rt
		if _, ok := documented[key]; !ok {
			t.Errorf("route %s (%s) is not documented in openapi.json", key, rt.Access)
		}
	}
	var extra []string
	for key := range documented {
		if _, ok := routes[key]; !ok {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	for _, key := range extra {
		t.Errorf("openapi.json documents %s, which is not a route", key)
	}

	// What a client generated from the document needs to get right.
	resolve := func(p openAPIParam) openAPIParam {
		if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			r, found := doc.Components.Parameters[name]
			if !found {
				t.Errorf("parameter reference %s does not resolve", p.Ref)
			}
			return r
		}
		return p
	}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\}`)
	for key, rt := range routes {
		op, ok := documented[key]
		if !ok {
			continue
		}
		declared := map[string]bool{}
		for _, p := range append(slices.Clone(pathParams[rt.Pattern]), op.Parameters...) {
			if p = resolve(p); p.In == "path" {
				declared[p.Name] = true
			}
		}
		for _, m := range wildcard.FindAllStringSubmatch(rt.Pattern, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", key, m[1])
			}
		}
		keyed := rt.Access == api.Member || rt.Access == api.Admin
		switch {
		case keyed && op.Security != nil && len(*op.Security) == 0:
			t.Errorf("%s needs an API key but is documented with security: []", key)
		case keyed && op.Security == nil && len(doc.Security) == 0:
			t.Errorf("%s needs an API key but the document requires none", key)
		case !keyed && (op.Security == nil || len(*op.Security) != 0):
			t.Errorf("%s takes no API key (%s) but is not documented with security: []", key, rt.Access)
		}
		if keyed && op.Responses["401"] == nil {
			t.Errorf("%s does not document its 401 answer", key)
		}
		if rt.Access == api.Admin && op.Responses["403"] == nil {
			t.Errorf("%s is admin-only but does not document its 403 answer", key)
		}
		if keyed && strings.Contains(rt.Pattern, "{") && op.Responses["404"] == nil {
			t.Errorf("%s names a resource but does not document its 404 answer", key)
		}
		if rt.Access == api.Webhook && op.Responses["403"] == nil {
			t.Errorf("webhook %s does not document its 403 (bad signature) answer", key)
		}
	}
}

// TestOpenAPIServed checks that the document is served as JSON at
// /api/v1/openapi.json without a key.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.API("GET", "/api/v1/openapi.json", "", nil)
	if r.Status != 200 {
		t.Fatalf("GET /api/v1/openapi.json = %d %s, want 200", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("the served document is not JSON: %v", err)
	}
	if doc["paths"] == nil || doc["openapi"] == nil {
		t.Errorf("the served document has no openapi/paths: %.200s", r.Body)
	}
	_, raw := readOpenAPI(t)
	if !bytes.Equal(r.Body, raw) {
		t.Errorf("the served document differs from internal/api/openapi.json")
	}
}
