package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
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
	var (
		extra json.RawMessage
		sc    echo.HTTPStatusCoder
	)
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case errors.As(err, &sc):
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
		// typ.Value is the JSON kind, sometimes followed by the number
		// itself: keep only the kind.
		found, _, _ := strings.Cut(typ.Value, " ")
		if typ.Field == "" {
			return httpError(http.StatusBadRequest, "request body must be a JSON %s, found %s", jsonKind(typ.Type), found)
		}
		return httpError(http.StatusBadRequest, "field %q: expected a JSON %s, found %s", typ.Field, jsonKind(typ.Type), found)
	case errors.As(err, &parseTime):
		return httpError(http.StatusBadRequest, "a time in the request body is not an RFC 3339 string")
	}
	// encoding/json has no typed error for an unknown field; its message
	// is the only way to tell one.
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
