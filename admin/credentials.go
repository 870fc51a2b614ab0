package admin

import (
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/sluicehq/sluice/credentials"
)

// credentialResponse renders a credential's metadata. It has no field for
// any secret, hash or sealed material: a credential reaches a client only
// through it.
type credentialResponse struct {
	ID          string           `json:"id"`
	Account     string           `json:"account,omitempty"`
	Name        string           `json:"name"`
	Type        credentials.Type `json:"type"`
	Fingerprint string           `json:"fingerprint"`
	Description string           `json:"description"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	LastUsedAt  *time.Time       `json:"last_used_at,omitempty"`
	ExpiresAt   *time.Time       `json:"expires_at,omitempty"`
	// PublicKey is the authorized_keys line of an ssh-public-key or the PEM
	// public key of a jwt-rs256 credential; both are public.
	PublicKey string `json:"public_key,omitempty"`
	credentials.Metadata
}

// newCredentialResponse copies the non-secret fields of c.
func newCredentialResponse(c credentials.Credential) credentialResponse {
	r := credentialResponse{
		ID:          c.ID,
		Account:     c.Account,
		Name:        c.Name,
		Type:        c.Type,
		Fingerprint: c.Fingerprint,
		Description: c.Description,
		CreatedAt:   c.CreatedAt,
		UpdatedAt:   c.UpdatedAt,
		LastUsedAt:  c.LastUsedAt,
		ExpiresAt:   c.ExpiresAt,
		Metadata:    c.Metadata,
	}
	if c.Type == credentials.TypeSSHPublicKey || c.Type == credentials.TypeJWTRS256 {
		r.PublicKey = c.PublicData
	}
	return r
}

// credentialLocation is the URL path of a credential; account "" is the
// global scope.
func credentialLocation(account, name string) string {
	if account == "" {
		return apiPrefix + "/credentials/" + url.PathEscape(name)
	}
	return accountLocation(account) + "/credentials/" + url.PathEscape(name)
}

// The credential handlers serve both scopes: the global routes have no
// :account parameter, so c.Param("account") is "" there.

func (s *Server) createCredential(c *echo.Context) error {
	var spec credentials.Spec
	if err := decodeJSON(c, &spec); err != nil {
		return err
	}
	cred, err := s.svc.CreateCredential(c.Request().Context(), c.Param("account"), spec)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, credentialLocation(cred.Account, cred.Name))
	return c.JSON(http.StatusCreated, newCredentialResponse(cred))
}

func (s *Server) listCredentials(c *echo.Context) error {
	p, err := pageFrom(c)
	if err != nil {
		return err
	}
	creds, next, err := s.svc.Credentials(c.Request().Context(), c.Param("account"), p)
	if err != nil {
		return err
	}
	items := make([]credentialResponse, 0, len(creds))
	for _, cred := range creds {
		items = append(items, newCredentialResponse(cred))
	}
	return c.JSON(http.StatusOK, newList(items, next))
}

func (s *Server) getCredential(c *echo.Context) error {
	cred, err := s.svc.Credential(c.Request().Context(), c.Param("account"), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newCredentialResponse(cred))
}

func (s *Server) updateCredential(c *echo.Context) error {
	var patch credentials.CredentialPatch
	if err := decodeJSON(c, &patch); err != nil {
		return err
	}
	cred, err := s.svc.UpdateCredential(c.Request().Context(), c.Param("account"), c.Param("name"), patch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, newCredentialResponse(cred))
}

func (s *Server) deleteCredential(c *echo.Context) error {
	if err := s.svc.DeleteCredential(c.Request().Context(), c.Param("account"), c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// pgpKeysContentType is the media type of an armored OpenPGP key (RFC 3156).
const pgpKeysContentType = "application/pgp-keys"

func (s *Server) publicKey(c *echo.Context) error {
	armored, err := s.svc.PublicKey(c.Request().Context(), c.Param("account"), c.Param("name"))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, pgpKeysContentType, []byte(armored))
}
