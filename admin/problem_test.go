package admin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
	"github.com/stretchr/testify/require"
)

func TestStatusFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"validation", &credentials.ValidationError{Field: "name", Reason: "is required"}, http.StatusUnprocessableEntity},
		{"wrapped validation", fmt.Errorf("create: %w", &credentials.ValidationError{Field: "x", Reason: "y"}), http.StatusUnprocessableEntity},
		{"not found", fmt.Errorf("account %q: %w", "acme", credentials.ErrNotFound), http.StatusNotFound},
		{"conflict", fmt.Errorf("%w: duplicate", credentials.ErrConflict), http.StatusConflict},
		{"unauthenticated", credentials.ErrUnauthenticated, http.StatusUnauthorized},
		{"ours", httpError(http.StatusBadRequest, "bad"), http.StatusBadRequest},
		{"echo 405", echo.ErrMethodNotAllowed, http.StatusMethodNotAllowed},
		{"echo 413", echo.ErrStatusRequestEntityTooLarge, http.StatusRequestEntityTooLarge},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, statusFor(tc.err))
		})
	}
}

func TestProblemFor(t *testing.T) {
	s := &Server{cfg: DefaultConfig()}
	for _, tc := range []struct {
		name       string
		err        error
		wantDetail string
		wantErrors []fieldError
	}{
		{
			name:       "validation",
			err:        &credentials.ValidationError{Field: "schema.columns[2].type", Reason: "unknown column type"},
			wantDetail: "schema.columns[2].type: unknown column type",
			wantErrors: []fieldError{{Field: "schema.columns[2].type", Reason: "unknown column type"}},
		},
		{name: "conflict", err: fmt.Errorf("%w: name taken", credentials.ErrConflict), wantDetail: "conflict: name taken"},
		{name: "internal error hides the cause", err: errors.New("password=hunter2"), wantDetail: "internal error; the server log has details under this request id"},
		{name: "body limit", err: echo.ErrStatusRequestEntityTooLarge, wantDetail: "request body exceeds the limit of 1048576 bytes"},
		{name: "unauthenticated says nothing more", err: fmt.Errorf("%w: kid x expired", credentials.ErrUnauthenticated), wantDetail: errUnauthorized.Message},
		{name: "ours", err: httpError(http.StatusBadRequest, "unknown field %q", "foo"), wantDetail: `unknown field "foo"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := s.problemFor(tc.err, statusFor(tc.err))
			require.Equal(t, tc.wantDetail, p.Detail)
			require.Equal(t, tc.wantErrors, p.Errors)
			require.Equal(t, "about:blank", p.Type)
			require.Equal(t, http.StatusText(p.Status), p.Title)
		})
	}
}

func TestEchoErrorsAreProblems(t *testing.T) {
	c := newAPIClient(t, newFakeServer(t, &fakeService{
		tokens: map[string]credentials.Credential{"tok-0123456789abcdef0123456789abcdef": {Name: "ci", Type: credentials.TypeAPIToken}},
	}))
	c.token = "tok-0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantDetail string
	}{
		{"unknown route", http.MethodGet, "/nope", http.StatusNotFound, "no such resource"},
		{"unknown api route", http.MethodGet, "/api/v1/nope", http.StatusNotFound, "no such resource"},
		{"wrong method", http.MethodPut, "/api/v1/accounts", http.StatusMethodNotAllowed, "method not allowed on this resource"},
		// The fake does not implement Account: calling it panics, and the
		// panic is recovered into a 500 that does not say why.
		{"recovered panic", http.MethodGet, "/api/v1/accounts/acme", http.StatusInternalServerError, "internal error; the server log has details under this request id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, nil)
			require.Equal(t, tc.wantStatus, r.status)
			p := r.problem(t)
			require.Equal(t, tc.wantDetail, p.Detail)
			require.Equal(t, r.header.Get("X-Request-Id"), p.RequestID)
			if tc.wantStatus == http.StatusMethodNotAllowed {
				require.Contains(t, r.header.Get("Allow"), http.MethodGet)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name       string
		path       string
		ready      error
		wantStatus int
	}{
		{"healthz", "/healthz", nil, http.StatusOK},
		{"healthz while the store is down", "/healthz", errors.New("db gone"), http.StatusOK},
		{"readyz", "/readyz", nil, http.StatusOK},
		{"readyz while the store is down", "/readyz", errors.New("db gone"), http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newAPIClient(t, newFakeServer(t, &fakeService{ready: tc.ready}))
			r := c.doAs("", http.MethodGet, tc.path, nil)
			require.Equal(t, tc.wantStatus, r.status)
			if tc.wantStatus != http.StatusOK {
				require.Equal(t, "the store does not answer", r.problem(t).Detail)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	c := newAPIClient(t, newFakeServer(t, &fakeService{}))
	for _, tc := range []struct {
		name string
		sent string
		kept bool
	}{
		{"generated", "", false},
		{"client's, kept", "req-123.abc", true},
		{"client's, with spaces, replaced", "hello world", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.baseURL+"/healthz", nil)
			require.NoError(t, err)
			if tc.sent != "" {
				req.Header.Set("X-Request-Id", tc.sent)
			}
			resp, err := c.http.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			got := resp.Header.Get("X-Request-Id")
			require.NotEmpty(t, got)
			require.Equal(t, tc.kept, got == tc.sent)
		})
	}
}
