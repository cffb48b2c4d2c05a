package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/codeexec/codeexec/internal/compat"
	"github.com/codeexec/codeexec/internal/judge"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// OpenAPIPath is where the service serves its contract.
const OpenAPIPath = "/openapi.json"

// The contract (GET /openapi.json, OpenAPI 3.1) is made from the routes'
// own Go types: each body's schema is reflected from the struct the
// handler decodes or encodes (github.com/invopop/jsonschema writes JSON
// Schema 2020-12, OpenAPI 3.1's dialect), so a field added to a type is in
// the contract without a second edit. A field is required when its JSON
// name has no omitempty: the request types mark their optional fields
// omitempty for that (it changes nothing when decoding). What is not in a
// type (the routes, their statuses, parameters and words) is the table
// below; TestOpenAPIDescribesEveryRoute checks it against the router.

// apiRoute is one operation of the contract.
type apiRoute struct {
	method, path, id, summary, tag string
	key                            bool     // needs an API key when keys are on
	judge0Key                      bool     // Judge0's X-Auth-Token is accepted too
	body                           any      // the JSON body's type; nil for none
	bodyType                       string   // another body: its media type
	query                          []apiArg // query parameters
	ok                             []apiResponse
	errBody                        any // the errors' shape; errorBody when nil
}

type apiArg struct {
	name, desc string
	schema     map[string]any
}

type apiResponse struct {
	status int
	desc   string
	body   any    // the JSON body's type
	text   string // a text body's media types, comma-separated
}

// doc types: bodies the handlers write as maps, and the submission bodies
// (a route's body plus the submission's own fields), named for the
// contract.
type (
	healthView struct {
		Status string `json:"status" jsonschema:"enum=ok"`
	}
	readyView struct {
		Status  string   `json:"status" jsonschema:"enum=ready,enum=not ready"`
		Reason  string   `json:"reason,omitempty"`
		Pending []string `json:"pending,omitempty" jsonschema:"description=configured languages not served yet (their image is not imported); the service is ready for the others"`
	}
	runtimesView struct {
		Runtimes []runner.Runtime `json:"runtimes"`
		Pending  []string         `json:"pending" jsonschema:"description=configured languages not served yet: their image is not imported; each is served as soon as it is"`
		Sandbox  *runner.Stack    `json:"sandbox,omitempty"`
		Judge    *judgeInfo       `json:"judge,omitempty"`
	}
	submissionOwn struct {
		Metadata    jsonObject `json:"metadata,omitempty" jsonschema:"description=any JSON object, returned as given"`
		CallbackURL string     `json:"callback_url,omitempty" jsonschema:"format=uri"`
	}
	runSubmission struct {
		Kind string `json:"kind" jsonschema:"enum=run"`
		runRequest
		submissionOwn
	}
	judgeSubmission struct {
		Kind string `json:"kind" jsonschema:"enum=judge"`
		judgeRequest
		submissionOwn
	}
	batchSubmissions struct {
		Submissions []any `json:"submissions" jsonschema:"description=each a body of POST /submissions"`
	}
	batchAnswer struct {
		ID        string             `json:"id,omitempty"`
		Status    submissions.Status `json:"status,omitempty"`
		CreatedAt *time.Time         `json:"created_at,omitempty"`
		Error     string             `json:"error,omitempty"`
		Code      int                `json:"status_code,omitempty"`
	}
	batchAnswers struct {
		Submissions []batchAnswer `json:"submissions"`
	}
	submissionList struct {
		Submissions []*submissionView `json:"submissions"`
	}
	pistonErrorView struct {
		Message string `json:"message"`
	}
	judge0TokenView struct {
		Token string `json:"token"`
	}
	judge0Fields map[string]any
	judge0Batch  struct {
		Submissions []judge0Fields `json:"submissions"`
	}
	judge0BatchBody struct {
		Submissions []compat.Judge0Request `json:"submissions"`
	}
)

// apiRoutes is every operation the handler may serve (some only with a
// judge, a problem store or a queue).
func apiRoutes() []apiRoute {
	judge0Query := []apiArg{
		{"base64_encoded", "texts are Base64 both ways", map[string]any{"type": "boolean"}},
		{"wait", "answer when the submission is done", map[string]any{"type": "boolean"}},
		{"fields", "comma-separated fields of the answer, or *", map[string]any{"type": "string"}},
	}
	return []apiRoute{
		{method: "GET", path: "/healthz", id: "healthz", tag: "health", summary: "The process serves HTTP.",
			ok: []apiResponse{{200, "serving", healthView{}, ""}}},
		{method: "GET", path: "/readyz", id: "readyz", tag: "health", summary: "The service can run programs: containerd answers and the warm-up is done.",
			ok: []apiResponse{{200, "ready", readyView{}, ""}, {503, "not ready, with the reason", readyView{}, ""}}},
		{method: "GET", path: "/metrics", id: "metrics", tag: "health", summary: "Prometheus metrics.",
			ok: []apiResponse{{200, "the text exposition format", nil, "text/plain"}}},
		{method: "GET", path: OpenAPIPath, id: "openapi", tag: "health", summary: "This contract.",
			ok: []apiResponse{{200, "OpenAPI 3.1", map[string]any{}, ""}}},
		{method: "GET", path: "/", id: "playground", tag: "playground", summary: "The playground: a page to edit, run and judge programs (--playground).",
			ok: []apiResponse{{200, "the page", nil, "text/html"}}},
		{method: "GET", path: "/playground/{file}", id: "playgroundAsset", tag: "playground", summary: "The playground's script, style, editor and licences.",
			ok: []apiResponse{{200, "the file", nil, "text/javascript,text/css,text/plain"}}},
		{method: "GET", path: "/runtimes", id: "runtimes", tag: "run", key: true, summary: "The languages, their versions, commands and limits, and what /judge accepts.",
			ok: []apiResponse{{200, "the runtimes", runtimesView{}, ""}}},
		{method: "POST", path: "/run", id: "run", tag: "run", key: true, body: runRequest{}, summary: "Run one program in a fresh sandbox.",
			ok: []apiResponse{{200, "how the program ended (a failed program is a 200 too)", runResponse{}, ""}}},
		{method: "POST", path: "/judge", id: "judge", tag: "run", key: true, body: judgeRequest{}, summary: "Compile once and judge a submission against tests, each in a fresh process.",
			ok: []apiResponse{{200, "the verdict and each test's", judgeResponse{}, ""}}},
		{method: "POST", path: "/problems", id: "createProblem", tag: "problems", key: true, bodyType: "application/octet-stream", summary: "Store a Kattis problem package (zip, tar or tar.gz).",
			ok: []apiResponse{{201, "stored", problemView{}, ""}, {200, "the same package was already stored", problemView{}, ""}}},
		{method: "GET", path: "/problems/{id}", id: "getProblem", tag: "problems", key: true, summary: "A stored package.",
			ok: []apiResponse{{200, "the package", problemView{}, ""}}},
		{method: "DELETE", path: "/problems/{id}", id: "deleteProblem", tag: "problems", key: true, summary: "Delete a stored package.",
			ok: []apiResponse{{204, "deleted", nil, ""}}},
		{method: "POST", path: "/submissions", id: "submit", tag: "submissions", key: true, body: submissionBody{},
			query:   []apiArg{{"wait", "seconds to wait for the result before answering 202", map[string]any{"type": "integer", "minimum": 0}}},
			summary: "Queue a run or a judgement; its result is kept and may be sent to a callback.",
			ok:      []apiResponse{{202, "queued", acceptedView{}, ""}, {200, "done within ?wait", submissionView{}, ""}}},
		{method: "POST", path: "/submissions/batch", id: "submitBatch", tag: "submissions", key: true, body: batchSubmissions{}, summary: "Queue several submissions; each is accepted or refused on its own.",
			ok: []apiResponse{{202, "one answer per submission, in order", batchAnswers{}, ""}}},
		{method: "GET", path: "/submissions", id: "listSubmissions", tag: "submissions", key: true,
			query:   []apiArg{{"ids", "comma-separated submission ids", map[string]any{"type": "string"}}},
			summary: "Several submissions; null for an id not found.",
			ok:      []apiResponse{{200, "in the order asked", submissionList{}, ""}}},
		{method: "GET", path: "/submissions/{id}", id: "getSubmission", tag: "submissions", key: true, summary: "A submission and, when done, its result.",
			ok: []apiResponse{{200, "the submission", submissionView{}, ""}}},
		{method: "DELETE", path: "/submissions/{id}", id: "cancelSubmission", tag: "submissions", key: true, summary: "Cancel a queued submission.",
			ok: []apiResponse{{200, "cancelled, or already final", submissionView{}, ""}}},

		{method: "GET", path: "/api/v2/runtimes", id: "pistonRuntimes", tag: "piston", key: true, errBody: pistonErrorView{}, summary: "Piston v2: the languages.",
			ok: []apiResponse{{200, "Piston's runtimes", []compat.PistonRuntime{}, ""}}},
		{method: "POST", path: "/api/v2/execute", id: "pistonExecute", tag: "piston", key: true, errBody: pistonErrorView{}, body: compat.PistonRequest{}, summary: "Piston v2: run a program.",
			ok: []apiResponse{{200, "Piston's answer", compat.PistonResponse{}, ""}}},

		{method: "GET", path: Judge0BasePath + "/languages", id: "judge0Languages", tag: "judge0", key: true, judge0Key: true, summary: "Judge0 CE: the languages.",
			ok: []apiResponse{{200, "the languages", []compat.Judge0LanguageView{}, ""}}},
		{method: "GET", path: Judge0BasePath + "/languages/all", id: "judge0AllLanguages", tag: "judge0", key: true, judge0Key: true, summary: "Judge0 CE: the languages, archived ones included.",
			ok: []apiResponse{{200, "the languages", []compat.Judge0LanguageView{}, ""}}},
		{method: "GET", path: Judge0BasePath + "/languages/{id}", id: "judge0Language", tag: "judge0", key: true, judge0Key: true, summary: "Judge0 CE: one language.",
			ok: []apiResponse{{200, "the language", compat.Judge0LanguageDetail{}, ""}}},
		{method: "GET", path: Judge0BasePath + "/statuses", id: "judge0Statuses", tag: "judge0", key: true, judge0Key: true, summary: "Judge0 CE: the statuses.",
			ok: []apiResponse{{200, "the statuses", []compat.Judge0Status{}, ""}}},
		{method: "POST", path: Judge0BasePath + "/submissions", id: "judge0Submit", tag: "judge0", key: true, judge0Key: true, body: compat.Judge0Request{}, query: judge0Query,
			summary: "Judge0 CE: a submission, answered at once with ?wait=true.",
			ok:      []apiResponse{{201, "queued, or done with ?wait=true", judge0Fields{}, ""}, {422, "refused: each field's messages", compat.Judge0Invalid{}, ""}}},
		{method: "POST", path: Judge0BasePath + "/submissions/batch", id: "judge0SubmitBatch", tag: "judge0", key: true, judge0Key: true, body: judge0BatchBody{}, query: judge0Query[:1],
			summary: "Judge0 CE: several submissions.",
			ok:      []apiResponse{{201, "a token or the errors, per submission", []judge0Fields{}, ""}}},
		{method: "GET", path: Judge0BasePath + "/submissions/batch", id: "judge0GetBatch", tag: "judge0", key: true, judge0Key: true,
			query:   append([]apiArg{{"tokens", "comma-separated tokens", map[string]any{"type": "string"}}}, judge0Query[0], judge0Query[2]),
			summary: "Judge0 CE: several submissions' state.",
			ok:      []apiResponse{{200, "in the order asked", judge0Batch{}, ""}}},
		{method: "GET", path: Judge0BasePath + "/submissions/{token}", id: "judge0Get", tag: "judge0", key: true, judge0Key: true, query: []apiArg{judge0Query[0], judge0Query[2]},
			summary: "Judge0 CE: a submission's state.",
			ok:      []apiResponse{{200, "the asked fields", judge0Fields{}, ""}}},
	}
}

// jsonObject is a JSON object of any members: its schema says so
// (additionalProperties, an empty schema), or generators make an empty
// type of it that drops every member.
type jsonObject map[string]any

// JSONSchema describes jsonObject.
func (jsonObject) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{Type: "object", AdditionalProperties: &jsonschema.Schema{Title: "any JSON value"}}
}

// submissionBody is POST /submissions' body: a run or a judgement.
type submissionBody struct{}

// JSONSchema makes submissionBody one of the two kinds, told apart by
// "kind" (OpenAPI's discriminator: client generators make a tagged union
// of it instead of guessing from the fields).
func (submissionBody) JSONSchema() *jsonschema.Schema {
	return &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Ref: "#/$defs/runSubmission"}, {Ref: "#/$defs/judgeSubmission"},
	}, Extras: map[string]any{"discriminator": map[string]any{"propertyName": "kind", "mapping": map[string]string{
		"run": "#/$defs/runSubmission", "judge": "#/$defs/judgeSubmission",
	}}}}
}

// openAPIDocument builds the contract; version is the service's.
func openAPIDocument(version string) ([]byte, error) {
	r := &jsonschema.Reflector{
		// The schemas of the doc types above are reflected too.
		Mapper: schemaOf,
		// Embedded request types are flattened, as encoding/json does.
		AllowAdditionalProperties: false,
	}
	defs := jsonschema.Definitions{}
	refOf := func(v any) map[string]any {
		s := r.ReflectFromType(reflect.TypeOf(v))
		for name, d := range s.Definitions {
			defs[name] = d
		}
		s.Definitions = nil
		s.Version, s.ID = "", ""
		return jsonMap(s)
	}
	// Both kinds of submission are named, for submissionBody's oneOf.
	refOf(runSubmission{})
	refOf(judgeSubmission{})

	paths := map[string]map[string]any{}
	for _, rt := range apiRoutes() {
		op := map[string]any{"operationId": rt.id, "summary": rt.summary, "tags": []string{rt.tag}}
		var params []any
		for _, name := range pathParams(rt.path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.desc, "schema": q.schema})
		}
		if params != nil {
			op["parameters"] = params
		}
		switch {
		case rt.body != nil:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": refOf(rt.body)}}}
		case rt.bodyType != "":
			// The archive's format is read from its bytes, whatever the
			// Content-Type says.
			content := map[string]any{}
			for _, t := range []string{rt.bodyType, "application/zip", "application/gzip", "application/x-gzip", "application/x-tar", "*/*"} {
				content[t] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
			}
			op["requestBody"] = map[string]any{"required": true, "content": content}
		}
		responses := map[string]any{}
		for _, resp := range rt.ok {
			out := map[string]any{"description": resp.desc}
			switch {
			case resp.text != "":
				content := map[string]any{}
				for _, t := range strings.Split(resp.text, ",") {
					content[t] = map[string]any{"schema": map[string]any{"type": "string"}}
				}
				out["content"] = content
			case resp.body != nil:
				out["content"] = map[string]any{"application/json": map[string]any{"schema": refOf(resp.body)}}
			}
			responses[strconv.Itoa(resp.status)] = out
		}
		errBody := rt.errBody
		if errBody == nil {
			errBody = errorBody{}
		}
		responses["default"] = map[string]any{
			"description": "refused or failed: 400, 401, 404, 405, 408, 413, 415, 422, 429, 500, 503 or 504 (the README's Errors), with the reason",
			"content":     map[string]any{"application/json": map[string]any{"schema": refOf(errBody)}},
		}
		op["responses"] = responses
		if rt.key {
			sec := []any{map[string]any{"bearer": []string{}}}
			if rt.judge0Key {
				sec = append(sec, map[string]any{"judge0Token": []string{}})
			}
			// {}: keys are off unless the service was given some.
			op["security"] = append(sec, map[string]any{})
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	// Piston's and Judge0's requests ignore unknown fields, as theirs do.
	for _, name := range []string{"PistonRequest", "PistonFile", "Judge0Request"} {
		defs[name].AdditionalProperties = nil
	}
	schemas := map[string]any{}
	for name, d := range defs {
		schemas[name] = jsonMap(d)
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "codeexec",
			"version":     version,
			"description": "Runs untrusted programs in disposable containers on containerd, and judges them against tests. Piston's v2 API is under /api/v2 and Judge0 CE's under /judge0 (docs/compat.md).",
			"license":     map[string]any{"name": "see the repository's LICENSE"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":      map[string]any{"type": "http", "scheme": "bearer", "description": "one of the service's API keys (--api-keys)"},
				"judge0Token": map[string]any{"type": "apiKey", "in": "header", "name": "X-Auth-Token", "description": "Judge0's header, on /judge0 only"},
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	// invopop names definitions under $defs; OpenAPI keeps them in
	// components.
	return []byte(strings.ReplaceAll(string(b), `"#/$defs/`, `"#/components/schemas/`)), nil
}

// schemaOf maps the types whose JSON is not their Go shape.
func schemaOf(t reflect.Type) *jsonschema.Schema {
	enum := func(vs ...any) *jsonschema.Schema { return &jsonschema.Schema{Type: "string", Enum: vs} }
	switch t {
	case reflect.TypeFor[runner.Status]():
		return enum(anys(runner.Statuses)...)
	case reflect.TypeFor[judge.Status]():
		return enum(anys(append(slices.Clone(judge.Verdicts), judge.StatusSkipped))...)
	case reflect.TypeFor[judge.Mode]():
		return enum(anys(judge.Modes)...)
	case reflect.TypeFor[submissions.Status]():
		return enum(anys(submissions.Statuses)...)
	case reflect.TypeFor[json.RawMessage](), reflect.TypeFor[any]():
		// A schema object, not the boolean schema true: some client
		// generators take only objects. A title, not a description: a
		// struct field's description is reset from its tags, and a schema
		// left empty is written as true.
		return &jsonschema.Schema{Title: "any JSON value"}
	case reflect.TypeFor[judge0Fields](), reflect.TypeFor[map[string]any]():
		return &jsonschema.Schema{Type: "object"}
	case reflect.TypeFor[time.Duration]():
		return &jsonschema.Schema{Type: "integer", Description: "nanoseconds"}
	}
	// Judge0's numbers and booleans are what Rails casts: a number or a
	// string of one, true/false or their strings; null is absent.
	j0 := reflect.TypeFor[compat.Judge0Request]()
	switch t {
	case j0.Field(1).Type: // j0Number
		return &jsonschema.Schema{Type: "", OneOf: []*jsonschema.Schema{{Type: "number"}, {Type: "string"}, {Type: "null"}}}
	case j0.Field(13).Type: // j0Bool
		return &jsonschema.Schema{OneOf: []*jsonschema.Schema{{Type: "boolean"}, {Type: "string"}, {Type: "number"}, {Type: "null"}}}
	}
	return nil
}

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// jsonMap is v as a generic JSON object.
func jsonMap(v any) map[string]any {
	b, _ := json.Marshal(v) // the schemas are plain data
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// pathParams are the {names} of a route's path.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// buildVersion is the binary's module version, "dev" for a work tree's.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// openapi serves the contract.
func (h *handler) openapi(w http.ResponseWriter, _ *http.Request) {
	b, err := h.openAPI()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}
