package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
)

// apiClient talks to a test server. Its transport checks EVERY response
// against the OpenAPI document (status, headers, body) and, for 2xx
// responses, the request too; a mismatch fails the test. It also fails the
// test when any response contains one of the secrets it was told about.
type apiClient struct {
	t       *testing.T
	baseURL string
	token   string // default bearer token
	http    *http.Client
	v       *validator
}

// validator is the http.RoundTripper of apiClient.
type validator struct {
	t      *testing.T
	base   http.RoundTripper
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	secrets []string
}

// newAPIClient starts an httptest server for s and returns a validating
// client for it.
func newAPIClient(t *testing.T, s *Server) *apiClient {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	doc, err := loadOpenAPI(t.Context())
	require.NoError(t, err)
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	v := &validator{t: t, base: ts.Client().Transport, doc: doc, router: router}
	return &apiClient{t: t, baseURL: ts.URL, http: &http.Client{Transport: v}, v: v}
}

// secret registers values no response may contain.
func (v *validator) secret(s ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets = append(v.secrets, s...)
}

// secretList returns the registered secrets.
func (v *validator) secretList() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.secrets)
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	// t.Errorf, not Fatal: RoundTrip may run on a test's helper goroutine.
	if msg := v.check(req, reqBody, resp, body); msg != "" {
		v.t.Errorf("%s %s -> %d: %s\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, msg, body)
	}
	return resp, nil
}

// check returns what is wrong with one exchange, or "".
func (v *validator) check(req *http.Request, reqBody []byte, resp *http.Response, body []byte) string {
	ctx := context.Background()
	for _, s := range v.secretList() {
		if s != "" && (bytes.Contains(body, []byte(s)) || strings.Contains(strings.Join(flatHeaders(resp.Header), "\n"), s)) {
			return "response contains a secret"
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		return "no X-Request-Id header"
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:   true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
	}
	// Validation reads the request again; give it a fresh body.
	vreq := req.Clone(ctx)
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(vreq)
	if err != nil {
		// Not a documented operation: it must be echo's 404 or 405, as a problem.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return "undocumented operation answered " + resp.Status
		}
		return v.checkProblem(resp, body)
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if resp.StatusCode/100 == 2 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return "a request the server accepted does not match the document: " + err.Error()
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return "response does not match the document: " + err.Error()
	}
	return ""
}

// checkProblem validates an error response of an undocumented route against
// the Problem schema.
func (v *validator) checkProblem(resp *http.Response, body []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != problemContentType {
		return "content type " + ct + ", want " + problemContentType
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return "problem is not JSON: " + err.Error()
	}
	if err := v.doc.Components.Schemas["Problem"].Value.VisitJSON(doc); err != nil {
		return "problem does not match the Problem schema: " + err.Error()
	}
	return ""
}

func flatHeaders(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// problem decodes the body as a problem document.
func (r response) problem(t *testing.T) problem {
	t.Helper()
	require.Equal(t, problemContentType, r.header.Get("Content-Type"), "body: %s", r.body)
	var p problem
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Equal(t, r.status, p.Status)
	return p
}

// decode decodes the body as JSON into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// do sends a request with the client's token; body is sent as is when it is
// a string or []byte, else as JSON.
func (c *apiClient) do(method, path string, body any) response {
	c.t.Helper()
	return c.doAs(c.token, method, path, body)
}

// doAs is do with another bearer token ("" sends no Authorization header).
func (c *apiClient) doAs(token, method, path string, body any) response {
	c.t.Helper()
	r, err := c.send(token, method, path, body)
	require.NoError(c.t, err)
	return r
}

// send is doAs for helper goroutines: it reports errors instead of failing
// the test.
func (c *apiClient) send(token, method, path string, body any) (response, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.baseURL+path, r)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// roundTrip sends req through the validating client.
func roundTrip(t *testing.T, c *apiClient, req *http.Request) response {
	t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// templateParam matches a parameter of an OpenAPI path template.
var templateParam = regexp.MustCompile(`\{([a-z_]+)\}`)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc, err := loadOpenAPI(t.Context())
	require.NoError(t, err)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented = append(documented, method+" "+templateParam.ReplaceAllString(path, ":$1"))
			if op.Security != nil && len(*op.Security) == 0 {
				continue
			}
			require.Contains(t, op.Responses.Map(), "401", "%s %s: authenticated operations document 401", method, path)
			require.Contains(t, op.Responses.Map(), "500", "%s %s: every operation documents 500", method, path)
		}
	}
	s := &Server{}
	var served []string
	for _, r := range s.routes() {
		served = append(served, r.method+" "+r.path)
		public := slices.Contains([]string{"/healthz", "/readyz", "/metrics", apiPrefix + "/openapi.json"}, r.path)
		require.Equal(t, public, r.public, "%s %s", r.method, r.path)
	}
	require.ElementsMatch(t, documented, served)
}

func TestOpenAPIServed(t *testing.T) {
	s := newFakeServer(t, &fakeService{})
	c := newAPIClient(t, s)
	r := c.do(http.MethodGet, "/api/v1/openapi.json", nil)
	require.Equal(t, http.StatusOK, r.status)
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(t.Context()))
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.NotNil(t, doc.Paths.Value("/api/v1/accounts/{account}/credentials/{name}/public-key"))
}

func TestValidatorCatchesDrift(t *testing.T) {
	c := newAPIClient(t, newFakeServer(t, &fakeService{}))
	c.v.secret("hunter2-secret")
	for _, tc := range []struct {
		name   string
		method string
		path   string
		status int
		ctype  string
		body   string
		want   string
	}{
		{"undocumented field", "GET", "/api/v1/accounts", 200, "application/json", `{"items":[],"extra":1}`, "does not match the document"},
		{"secret field in a credential", "GET", "/api/v1/credentials/ci", 200, "application/json",
			`{"id":"1","name":"ci","type":"api-token","fingerprint":"","description":"","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","token":"x"}`,
			"does not match the document"},
		{"undocumented status", "GET", "/api/v1/accounts/acme", 418, problemContentType, `{"type":"about:blank","title":"x","status":418,"detail":"x"}`, "does not match the document"},
		{"error that is not a problem", "GET", "/api/v1/accounts/acme", 404, "application/json", `{"message":"Not Found"}`, "does not match the document"},
		{"422 without errors", "POST", "/api/v1/accounts", 422, problemContentType, `{"type":"about:blank","title":"x","status":422,"detail":"x"}`, "does not match the document"},
		{"a secret", "GET", "/api/v1/accounts/acme", 404, problemContentType, `{"type":"about:blank","title":"x","status":404,"detail":"hunter2-secret"}`, "contains a secret"},
		{"unknown route answering 200", "GET", "/nope", 200, "application/json", `{}`, "undocumented operation"},
		{"valid", "GET", "/api/v1/accounts", 200, "application/json", `{"items":[]}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, c.baseURL+tc.path, nil)
			require.NoError(t, err)
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			resp.Header.Set("Content-Type", tc.ctype)
			resp.Header.Set("X-Request-Id", "r1")
			got := c.v.check(req, nil, resp, []byte(tc.body))
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}
