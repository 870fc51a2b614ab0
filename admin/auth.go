package admin

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// Context keys of values the middleware stores for handlers and logs.
const (
	actorKey     = "sluice.admin.actor"
	requestIDKey = "sluice.admin.request_id"
)

// jwtLeeway is the clock skew tolerated on exp, nbf and iat.
const jwtLeeway = 60 * time.Second

// maxBearerLength bounds the bearer tokens we look at; longer ones are refused
// before any work is done on them.
const maxBearerLength = 8 << 10

// errDenied marks an authentication failure; its wrapped reason is logged,
// never sent.
var errDenied = errors.New("authentication denied")

// jwtAlgorithms maps a JWT credential type to the one algorithm its key
// verifies: the credential, not the token, decides.
var jwtAlgorithms = map[credentials.Type]string{
	credentials.TypeJWTHS256: jwt.SigningMethodHS256.Alg(),
	credentials.TypeJWTRS256: jwt.SigningMethodRS256.Alg(),
}

// authenticate is the middleware of every authenticated route: it resolves
// the bearer token to a global credential and stores its name as the actor.
// Any failure is the same 401; a store failure is a 500.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		cred, err := s.bearer(c.Request().Context(), c.Request().Header.Get(echo.HeaderAuthorization))
		if errors.Is(err, errDenied) {
			s.logger.Warn("admin authentication failed", "reason", err.Error(),
				"remote", c.RealIP(), "request_id", requestID(c), "route", c.Path())
			return errUnauthorized
		}
		if err != nil {
			return err
		}
		c.Set(actorKey, cred.Name)
		return next(c)
	}
}

// bearer resolves an Authorization header value. Its errors wrap errDenied
// for every authentication failure; any other error is the store's.
func (s *Server) bearer(ctx context.Context, header string) (credentials.Credential, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return credentials.Credential{}, fmt.Errorf("%w: no bearer token", errDenied)
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxBearerLength {
		return credentials.Credential{}, fmt.Errorf("%w: empty or oversized bearer token", errDenied)
	}
	if looksLikeJWT(token) {
		return s.verifyJWT(ctx, token)
	}
	cred, err := s.svc.VerifyAPIToken(ctx, token)
	switch {
	case errors.Is(err, credentials.ErrUnauthenticated):
		return cred, fmt.Errorf("%w: unknown api token", errDenied)
	case err != nil:
		return cred, fmt.Errorf("verify api token: %w", err)
	case cred.Type != credentials.TypeAPIToken || cred.Expired(time.Now()):
		return cred, fmt.Errorf("%w: api token credential %q is not usable", errDenied, cred.Name)
	}
	return cred, nil
}

// looksLikeJWT reports whether token is a compact JWS: three dot-separated
// parts whose first is a base64url JSON object. An API token that merely
// contains two dots is not one.
func looksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	return err == nil && len(header) > 1 && header[0] == '{'
}

// verifyJWT verifies a JWT against the global JWT credential named by its
// kid, with the algorithm that credential's type fixes; exp is required and a
// leeway of jwtLeeway applies.
func (s *Server) verifyJWT(ctx context.Context, token string) (credentials.Credential, error) {
	var (
		cred     credentials.Credential
		storeErr error
	)
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid")
		}
		c, key, err := s.svc.JWTKey(ctx, kid)
		if err != nil {
			if !errors.Is(err, credentials.ErrUnauthenticated) {
				storeErr = err
			}
			return nil, fmt.Errorf("kid %q: %w", kid, err)
		}
		if want := jwtAlgorithms[c.Type]; want == "" || t.Method.Alg() != want {
			return nil, fmt.Errorf("kid %q is a %s credential, token is signed with %s", kid, c.Type, t.Method.Alg())
		}
		if c.Expired(time.Now()) {
			return nil, fmt.Errorf("kid %q has expired", kid)
		}
		switch key.(type) {
		case []byte:
			if c.Type != credentials.TypeJWTHS256 {
				return nil, fmt.Errorf("kid %q: key type does not match credential type", kid)
			}
		case *rsa.PublicKey:
			if c.Type != credentials.TypeJWTRS256 {
				return nil, fmt.Errorf("kid %q: key type does not match credential type", kid)
			}
		default:
			return nil, fmt.Errorf("kid %q: unsupported key type %T", kid, key)
		}
		cred = c
		return key, nil
	}
	// A Parser caches its validator on first use, so each request gets its own.
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(jwtLeeway),
	)
	if _, err := parser.Parse(token, keyfunc); err != nil {
		if storeErr != nil {
			return credentials.Credential{}, fmt.Errorf("look up jwt key: %w", storeErr)
		}
		return credentials.Credential{}, fmt.Errorf("%w: jwt: %w", errDenied, err)
	}
	if err := s.svc.MarkUsed(ctx, cred); err != nil {
		s.logger.Warn("record jwt credential use", "err", err, "credential", cred.Name)
	}
	return cred, nil
}

// actor returns the name of the credential that authenticated the request.
func actor(c *echo.Context) string {
	a, _ := c.Get(actorKey).(string)
	return a
}

// requestID returns the request's id.
func requestID(c *echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}
