// Package credentials owns Sluice's identities: accounts, their typed and named
// credentials (SFTP passwords and keys, ZIP passwords, OpenPGP keys, API tokens,
// JWT keys) and their feeds, together with the audit trail of changes to them.
//
// It validates every credential on create, hashes passwords with argon2id and
// seals other secrets with AES-256-GCM under a rotatable master key (Vault), and
// persists everything through Store on top of a store.DB (SQLite or PostgreSQL).
//
// Secrets are write-only: no error and no log line of this package carries one,
// and only the methods that exist to hand secrets to the pipeline return them:
// Service.DecryptionKeys (OpenPGP keys already unlocked, cached in memory so
// that the costly unlock is not paid per file), Service.ZipPasswords and
// Service.Secret. Secret redacts itself when printed, logged or marshalled.
//
// credentials imports only the store package and libraries; it must not import
// admin, sshserver, pipeline or cmd.
package credentials
