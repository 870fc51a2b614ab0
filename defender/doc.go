// Package defender protects the SFTP login from brute force and credential
// stuffing. It counts failed logins per source address and per account name
// within a window: an address with too many failures is banned for a period
// that doubles with every repeat (up to a maximum), an address that tries a
// honeypot user name (root, admin, ubuntu, …) is banned at once, and an
// account that fails too often — from however many addresses — is locked for
// a growing period during which even its correct password is refused.
// Addresses on the allow list are never banned.
//
// The defender only decides; the caller (sshserver) drops banned addresses
// before the SSH handshake and refuses logins to locked accounts, never
// telling the client why. State lives in memory, bounded by a cap on the
// number of tracked addresses and accounts (the least recently seen are
// forgotten first), and is not shared between the nodes of a deployment.
//
// Its collectors (metrics.go) are registered on the registerer cmd gives
// RegisterMetrics. defender imports only the standard library and the
// Prometheus client; it must not import any other Sluice package.
package defender
