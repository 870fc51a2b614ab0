package admin

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v5"
)

// openAPIYAML is the hand-written OpenAPI 3 document of the API. Tests check
// every response of the admin tests against it, so it cannot drift.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// loadOpenAPI parses and validates the embedded OpenAPI document.
func loadOpenAPI(ctx context.Context) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIYAML)
	if err != nil {
		return nil, fmt.Errorf("load openapi document: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi document: %w", err)
	}
	return doc, nil
}

// openAPIJSON returns the embedded OpenAPI document as JSON.
func openAPIJSON() ([]byte, error) {
	doc, err := loadOpenAPI(context.Background())
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi document: %w", err)
	}
	return b, nil
}

// openAPI serves the OpenAPI document.
func (s *Server) openAPI(c *echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openapi)
}
