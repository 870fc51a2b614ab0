package main

import (
	"context"

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
