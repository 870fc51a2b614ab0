package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// decodeJSON decodes the request body, which must be exactly one JSON value
// with no unknown fields, into v. Its errors never quote the body: a value
// may be a secret.
func decodeJSON(c *echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return httpError(http.StatusUnsupportedMediaType, "request body must be application/json")
		}
	}
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil && statusFor(err) != http.StatusInternalServerError:
		return err // the body limit
	default:
		return httpError(http.StatusBadRequest, "request body must hold a single JSON value, found trailing data")
	}
}

// decodeError turns an error of json.Decoder.Decode into a 400 (or the body
// limit's 413) that says what is wrong without quoting the body.
func decodeError(err error) error {
	var (
		syntax    *json.SyntaxError
		typ       *json.UnmarshalTypeError
		parseTime *time.ParseError
		sc        echo.HTTPStatusCoder
	)
	switch {
	case errors.As(err, &sc):
		return err // the body limit
	case errors.Is(err, io.EOF):
		return httpError(http.StatusBadRequest, "request body must not be empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return httpError(http.StatusBadRequest, "malformed JSON: unexpected end of the request body")
	case errors.As(err, &syntax):
		return httpError(http.StatusBadRequest, "malformed JSON at byte offset %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return httpError(http.StatusBadRequest, "request body must be a JSON %s", jsonKind(typ.Type))
		}
		return httpError(http.StatusBadRequest, "field %q must be a JSON %s", typ.Field, jsonKind(typ.Type))
	case errors.As(err, &parseTime):
		return httpError(http.StatusBadRequest, "a time in the request body is not an RFC 3339 string")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return httpError(http.StatusBadRequest, "unknown field %s", name)
	}
	return httpError(http.StatusBadRequest, "request body does not match the expected JSON shape")
}

// jsonKind names the JSON type that decodes into a Go type.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value of another type"
	}
	if t == reflect.TypeFor[time.Time]() {
		return "string (RFC 3339 time)"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "object"
}

// List paging limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// pageFrom reads the limit and cursor query parameters of a list.
func pageFrom(c *echo.Context) (credentials.Page, error) {
	p := credentials.Page{After: c.QueryParam("cursor"), Limit: defaultLimit}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, httpError(http.StatusBadRequest, "limit: must be an integer from 1 to %d", maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// list is the body of every list response.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// newList returns a list whose Items is never null.
func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Next: next}
}
