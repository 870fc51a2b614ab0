package credentials

import (
	"errors"
	"fmt"
)

// ErrNotFound reports that the named account, credential or feed does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict reports that a change collides with existing state: a duplicate
// name, an SSH key already held by another account, an attempt to rename a
// credential or change its type. Errors wrapping it carry a message that says
// which.
var ErrConflict = errors.New("conflict")

// ErrUnauthenticated reports that a token, password or key did not
// authenticate. It deliberately carries no detail about which check failed.
var ErrUnauthenticated = errors.New("unauthenticated")

// ValidationError reports that one field of an input is invalid. Field is the
// JSON name of the field (dotted for nested fields, e.g. "schema.columns[2].type")
// and Reason says what is wrong in words an operator can act on. Neither ever
// contains a secret value.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// invalid returns a *ValidationError for field.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// conflict returns an error wrapping ErrConflict with a specific message.
func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}
