package sshserver

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
)

// Authenticator checks SFTP credentials; credentials.Service implements it
// (through a small adapter in cmd). Implementations must be safe for
// concurrent use.
type Authenticator interface {
	// CheckPassword verifies user's SFTP password. It costs the same time for unknown users; failure is credentials.ErrUnauthenticated.
	CheckPassword(ctx context.Context, user, password string) (Login, error)
	// FindKey reports whether key is an authorized, unexpired key of user, without side effects.
	FindKey(ctx context.Context, user string, key ssh.PublicKey) (Login, error)
	// MarkUsed records that the credential just authenticated a login.
	MarkUsed(ctx context.Context, credentialID string) error
}

// Login is what an Authenticator found: the account and the credential that
// matched. The server applies the account's status and allowed_cidrs itself.
type Login struct {
	Account        credentials.Account
	CredentialID   string
	CredentialName string
	Fingerprint    string // SHA256:… of a key credential
	// RequireKeyAndPassword makes a key login ask for the password too, as
	// OpenSSH's "AuthenticationMethods publickey,password" does; a password
	// alone is then refused.
	RequireKeyAndPassword bool
}

// Auditor records audit events; credentials.Service implements it. It must
// be safe for concurrent use.
type Auditor interface {
	RecordAudit(ctx context.Context, e credentials.AuditEvent) error
}

// Keys of ssh.Permissions.Extensions that carry the identity decided during
// authentication.
const (
	extAccount      = "sluice-account"
	extCredentialID = "sluice-credential-id"
	extCredential   = "sluice-credential"
	extMethod       = "sluice-method"
	extFingerprint  = "sluice-fingerprint"
)

// auditTimeout bounds the audit write and MarkUsed of one attempt, so that
// a slow database delays a login a little, never indefinitely.
const auditTimeout = 2 * time.Second

// errDenied is what every refused attempt returns to the library. The client
// only ever learns that the attempt failed.
var errDenied = errors.New("sshserver: authentication denied")

// authState is a connection's progress through authentication.
type authState struct {
	user        string // last user name attempted
	offered     *offer // the key publicKey approved last, awaiting its signature
	keyFP       string // fingerprint of the last key publicKey saw
	keyReason   string // why publicKey refused it
	recorded    bool   // the current attempt was audited by its own callback
	keyRejected bool   // some key was refused on this connection
	counted     bool   // a failure of this connection reached the defender
	login       Login  // the final, successful login
	slot        string // account whose session slot this connection holds
}

type offer struct {
	fp    string
	login Login
}

// publicKey is the PublicKeyCallback. Clients offer keys they never sign
// with, so it only looks the key up: no audit, no defender, no MarkUsed.
// authLog records a refusal; verifiedKey records a login.
func (c *conn) publicKey(ctx context.Context, m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	c.auth.user = m.User()
	c.auth.offered = nil
	c.auth.keyFP = ssh.FingerprintSHA256(key)
	if c.srv.def.Banned(c.remote.Addr()) {
		c.auth.keyReason = "banned"
		return nil, errDenied
	}
	actx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	login, err := c.srv.auth.FindKey(actx, m.User(), key)
	if err != nil {
		c.auth.keyReason = "unknown-key"
		if !errors.Is(err, credentials.ErrUnauthenticated) {
			c.auth.keyReason = "error"
			c.logger.Error("look up ssh key", "err", err)
		}
		return nil, errDenied
	}
	c.auth.offered = &offer{fp: c.auth.keyFP, login: login}
	return &ssh.Permissions{Extensions: map[string]string{extFingerprint: c.auth.keyFP}}, nil
}

// verifiedKey is the VerifiedPublicKeyCallback: the client proved it holds
// the key publicKey approved. The login is decided and recorded here.
func (c *conn) verifiedKey(ctx context.Context, m ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	user := m.User()
	fp := ssh.FingerprintSHA256(key)
	o := c.auth.offered
	if o == nil || o.fp != fp {
		c.logger.Error("verified key was not the approved one", "fingerprint", fp)
		return nil, c.deny(ctx, user, "publickey", "error", false, fp, nil)
	}
	login := o.login
	if reason, count := c.policy(login); reason != "" {
		return nil, c.deny(ctx, user, "publickey", reason, count, fp, &login)
	}
	if login.RequireKeyAndPassword {
		c.record(ctx, user, "publickey", "partial:publickey", fp, &login)
		return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
			PasswordCallback: func(m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
				return c.secondPassword(ctx, m, pw, login)
			},
		}}
	}
	return c.grant(ctx, user, "publickey", login, "")
}

// password is the PasswordCallback of a first authentication step.
func (c *conn) password(ctx context.Context, m ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	user := m.User()
	c.auth.user = user
	if c.srv.def.Banned(c.remote.Addr()) {
		return nil, c.deny(ctx, user, "password", "banned", false, "", nil)
	}
	login, reason := c.checkPassword(ctx, user, pw)
	if reason != "" {
		return nil, c.deny(ctx, user, "password", reason, reason == "bad-credentials", "", nil)
	}
	if reason, count := c.policy(login); reason != "" {
		return nil, c.deny(ctx, user, "password", reason, count, "", &login)
	}
	if login.RequireKeyAndPassword {
		return nil, c.deny(ctx, user, "password", "key-required", false, "", &login)
	}
	return c.grant(ctx, user, "password", login, "")
}

// secondPassword is the PasswordCallback after a key login that requires
// the password too; the password must belong to the key's account.
func (c *conn) secondPassword(ctx context.Context, m ssh.ConnMetadata, pw []byte, key Login) (*ssh.Permissions, error) {
	const method = "publickey,password"
	user := m.User()
	if c.srv.def.Banned(c.remote.Addr()) {
		return nil, c.deny(ctx, user, method, "banned", false, key.Fingerprint, nil)
	}
	login, reason := c.checkPassword(ctx, user, pw)
	if reason == "" && login.Account.Name != key.Account.Name {
		reason = "bad-credentials"
	}
	if reason != "" {
		return nil, c.deny(ctx, user, method, reason, reason == "bad-credentials", key.Fingerprint, nil)
	}
	if reason, count := c.policy(login); reason != "" {
		return nil, c.deny(ctx, user, method, reason, count, key.Fingerprint, &login)
	}
	login.Fingerprint = key.Fingerprint
	return c.grant(ctx, user, method, login, key.CredentialID)
}

// checkPassword asks the Authenticator; reason is "" on success,
// "bad-credentials" or "error".
func (c *conn) checkPassword(ctx context.Context, user string, pw []byte) (Login, string) {
	actx, cancel := context.WithDeadline(ctx, c.deadline)
	defer cancel()
	login, err := c.srv.auth.CheckPassword(actx, user, string(pw))
	switch {
	case err == nil:
		return login, ""
	case errors.Is(err, credentials.ErrUnauthenticated):
		return Login{}, "bad-credentials"
	default:
		c.logger.Error("check password", "err", err)
		return Login{}, "error"
	}
}

// policy applies the rules that hold whatever the credential: bans, the
// account's status, its allowed_cidrs and lockout. It returns why the login
// is refused ("" if it is not) and whether that counts as a failure for the
// defender: a refused source address does (right credentials from the wrong
// place), a lockout does not (it is likely the owner).
func (c *conn) policy(l Login) (reason string, count bool) {
	addr := c.remote.Addr()
	switch {
	case c.srv.def.Banned(addr):
		return "banned", false
	case l.Account.Disabled:
		return "account-disabled", true
	case !c.cidrAllows(l.Account.AllowedCIDRs, addr):
		return "source-address", true
	case c.srv.def.AccountLocked(l.Account.Name):
		return "account-locked", false
	}
	return "", false
}

// cidrAllows reports whether addr is in one of cidrs (empty: anywhere). An
// entry that does not parse allows nothing.
func (c *conn) cidrAllows(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				c.logger.Error("account has an invalid allowed_cidrs entry", "entry", clean(s, 64))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// grant completes a login: it takes an account session slot, marks the
// credentials used, tells the defender and records the attempt.
func (c *conn) grant(ctx context.Context, user, method string, l Login, keyCredentialID string) (*ssh.Permissions, error) {
	if !c.srv.limits.acquireAccount(l.Account.Name) {
		return nil, c.deny(ctx, user, method, "too-many-sessions", false, l.Fingerprint, &l)
	}
	c.auth.slot = l.Account.Name
	c.auth.login = l
	for _, id := range []string{l.CredentialID, keyCredentialID} {
		if id == "" {
			continue
		}
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
		if err := c.srv.auth.MarkUsed(mctx, id); err != nil {
			c.logger.Warn("mark credential used", "credential_id", id, "err", err)
		}
		cancel()
	}
	c.srv.def.Success(c.remote.Addr(), user)
	c.record(ctx, user, method, "ok", l.Fingerprint, &l)
	return &ssh.Permissions{Extensions: map[string]string{
		extAccount:      l.Account.Name,
		extCredentialID: l.CredentialID,
		extCredential:   l.CredentialName,
		extMethod:       method,
		extFingerprint:  l.Fingerprint,
	}}, nil
}

// deny records a refused attempt, counts it at the defender when count is
// set, and closes the connection when its address is (now) banned.
func (c *conn) deny(ctx context.Context, user, method, reason string, count bool, fp string, l *Login) error {
	c.record(ctx, user, method, "denied:"+reason, fp, l)
	if count {
		c.fail(user)
	}
	if reason == "banned" {
		c.raw.Close()
	}
	return errDenied
}

// fail counts one failure of this connection at the defender and closes the
// connection if that bans its address.
func (c *conn) fail(user string) {
	c.auth.counted = true
	if c.srv.def.Failure(c.remote.Addr(), user) {
		c.logger.Info("address banned; closing connection")
		c.raw.Close()
	}
}

// authLog is the AuthLogCallback, called after every attempt except a
// successful key query. It records the attempts no callback recorded: keys
// refused by publicKey (which must stay free of side effects) or by the
// library itself (a refused signature algorithm).
func (c *conn) authLog(ctx context.Context, m ssh.ConnMetadata, method string, err error) {
	if c.auth.recorded {
		c.auth.recorded = false
		return
	}
	if err == nil || method != "publickey" {
		return // "none" probes; methods not offered
	}
	user := m.User()
	c.auth.user = user
	reason, fp := "key-algorithm", ""
	if errors.Is(err, errDenied) {
		reason, fp = c.auth.keyReason, c.auth.keyFP
	}
	c.record(ctx, user, method, "denied:"+reason, fp, nil)
	c.auth.recorded = false
	c.auth.keyRejected = true
	switch {
	case reason == "banned":
		c.raw.Close()
	case c.srv.def.Honeypot(user):
		c.fail(user)
	}
}

// handshakeFailed ends a connection whose handshake failed. A connection
// that offered only refused keys counts as one failure at the defender, not
// one per key: an agent holding many keys is no attack.
func (c *conn) handshakeFailed(err error) {
	if c.auth.keyRejected && !c.auth.counted {
		c.fail(c.auth.user)
	}
	c.logger.Debug("handshake failed", "err", err)
}

// releaseAccount gives back the account session slot, if any.
func (c *conn) releaseAccount() {
	if c.auth.slot != "" {
		c.srv.limits.releaseAccount(c.auth.slot)
		c.auth.slot = ""
	}
}

// auditDetail says how a login was attempted: the method and, for keys,
// the key's fingerprint.
func auditDetail(method, fp string) string {
	if fp == "" {
		return "method=" + method
	}
	return "method=" + method + " fingerprint=" + fp
}

// record writes one audit event and one log line for an attempt. The audit
// write is bounded by auditTimeout; a failure to write is logged, and the
// login goes on.
func (c *conn) record(ctx context.Context, user, method, result, fp string, l *Login) {
	c.auth.recorded = true
	c.srv.metrics.logins.WithLabelValues(method, loginResult(result)).Inc()
	actor := clean(user, 64)
	target := "accounts/" + actor
	if l != nil && l.CredentialName != "" {
		target += "/credentials/" + clean(l.CredentialName, 64)
	}
	attrs := []any{"user", actor, "method", method, "result", result}
	if fp != "" {
		attrs = append(attrs, "fingerprint", fp)
	}
	if result == "ok" {
		c.logger.Info("login", attrs...)
	} else {
		c.logger.Info("login refused", attrs...)
	}
	if c.srv.audit == nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	err := c.srv.audit.RecordAudit(actx, credentials.AuditEvent{
		Time:      time.Now().UTC(),
		Actor:     actor,
		Action:    "sftp.login",
		Target:    target,
		Remote:    c.remote.String(),
		RequestID: c.id,
		Result:    result,
		Detail:    auditDetail(method, fp),
	})
	if err != nil {
		c.logger.Warn("record audit event", "err", err)
	}
}

// clean makes client-supplied text safe to log and store: invalid UTF-8 and
// non-printable characters become '?', and it is cut to at most max bytes.
func clean(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
