package main

import (
	"context"
	"errors"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/sshserver"
)

// sftpAuth lets the credentials service authenticate SFTP logins
// (sshserver.Authenticator).
type sftpAuth struct{ svc *credentials.Service }

func login(a credentials.Account, c credentials.Credential) sshserver.Login {
	return sshserver.Login{
		Account:               a,
		CredentialID:          c.ID,
		CredentialName:        c.Name,
		Fingerprint:           c.Fingerprint,
		RequireKeyAndPassword: a.RequireKeyAndPassword,
	}
}

func (s sftpAuth) CheckPassword(ctx context.Context, user, password string) (sshserver.Login, error) {
	a, c, err := s.svc.CheckPassword(ctx, user, password)
	if err != nil {
		return sshserver.Login{}, err
	}
	return login(a, c), nil
}

func (s sftpAuth) FindKey(ctx context.Context, user string, key ssh.PublicKey) (sshserver.Login, error) {
	a, c, err := s.svc.FindKey(ctx, user, key)
	if err != nil {
		return sshserver.Login{}, err
	}
	return login(a, c), nil
}

func (s sftpAuth) MarkUsed(ctx context.Context, credentialID string) error {
	return s.svc.MarkUsedID(ctx, credentialID)
}

// uploadSink hands finished SFTP uploads to the pipeline's intake
// (sshserver.UploadSink).
type uploadSink struct{ intake *pipeline.Intake }

func (s uploadSink) Received(ctx context.Context, u sshserver.Upload) (string, error) {
	rec, err := s.intake.Receive(ctx, pipeline.Upload{
		Account:       u.Account,
		Path:          u.Path,
		File:          u.File,
		Size:          u.Size,
		SHA256:        u.SHA256,
		SessionID:     u.SessionID,
		Remote:        u.Remote,
		ClientVersion: u.ClientVersion,
		ReceivedAt:    u.ClosedAt,
	})
	return rec.ID, err
}

// stageKeys gives the decrypt stage the accounts' OpenPGP keys, unlocked
// and cached by the credentials service (decrypt.Keyring).
type stageKeys struct{ svc *credentials.Service }

func (k stageKeys) DecryptionKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	return k.svc.DecryptionKeys(ctx, account)
}

func (k stageKeys) VerificationKeys(ctx context.Context, account string) (openpgp.EntityList, error) {
	return k.svc.VerificationKeys(ctx, account)
}

// zipPasswords gives the unzip stage the accounts' ZIP passwords
// (unzip.Passwords).
type zipPasswords struct{ svc *credentials.Service }

func (z zipPasswords) Passwords(ctx context.Context, account string) ([]string, error) {
	return z.svc.ZipPasswords(ctx, account)
}

// feedPolicy tells the stages what a feed demands (decrypt.Policy,
// unzip.Policy). A file outside every feed, or of a feed deleted since,
// gets the defaults; the csv stage rejects it with the reason.
type feedPolicy struct{ svc *credentials.Service }

func (p feedPolicy) feed(ctx context.Context, account, name string) (credentials.Feed, error) {
	if name == "" {
		return credentials.Feed{}, nil
	}
	f, err := p.svc.Feed(ctx, account, name)
	if errors.Is(err, credentials.ErrNotFound) {
		return credentials.Feed{}, nil
	}
	return f, err
}

func (p feedPolicy) RequireSignature(ctx context.Context, account, feed string) (bool, error) {
	f, err := p.feed(ctx, account, feed)
	return f.RequireSignature, err
}

func (p feedPolicy) AllowZipCrypto(ctx context.Context, account, feed string) (bool, error) {
	f, err := p.feed(ctx, account, feed)
	return f.AllowZipCrypto, err
}
