// Package admin serves Sluice's admin HTTP API: accounts, their credentials
// and feeds, global admin credentials, the audit trail, received uploads, the
// SFTP defender's bans and lockouts and the live SFTP sessions, under
// /api/v1, with an OpenAPI 3 document at /api/v1/openapi.json and the
// /healthz and /readyz probes, and the process's Prometheus metrics on
// /metrics (Deps.Metrics; unauthenticated, like the probes). Its own
// collectors (metrics.go) count requests by route template and status.
//
// Every /api/v1 route except the OpenAPI document requires an
// "Authorization: Bearer" header carrying a stored API token or a JWT signed
// with a stored jwt-hs256 secret or verifiable with a stored jwt-rs256 public
// key (kid = credential name). Every error is an RFC 9457
// application/problem+json document; statusFor classifies errors once. Every
// successful mutation writes an audit event before its response is sent.
//
// The package talks to the rest of Sluice only through interfaces it
// declares (Service, Uploads, Defender, Sessions; see Deps), which
// credentials.Service, pipeline.Intake, defender.Defender and an adapter of
// the SFTP server implement. It imports credentials, pipeline and defender
// for their types and errors, echo, golang-jwt and kin-openapi; it must not
// import sshserver (a sibling) or cmd, and it never logs or returns a secret,
// a request body, an Authorization header or a local file path.
package admin
