package admin

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v5"
)

// apiPrefix is the path prefix of the versioned API.
const apiPrefix = "/api/v1"

// route is one endpoint. A mutation names its audit action; every successful
// call of it records an audit event.
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
	action  string // audit action of a mutation, "" for reads
	public  bool   // no authentication
}

// routes lists every endpoint. openapi.yaml documents each of them, and a
// test checks that it does.
func (s *Server) routes() []route {
	const (
		accounts    = apiPrefix + "/accounts"
		account     = accounts + "/:account"
		accountCred = account + "/credentials/:name"
		feed        = account + "/feeds/:feed"
		globalCreds = apiPrefix + "/credentials"
		globalCred  = globalCreds + "/:name"
		uploads     = apiPrefix + "/uploads"
		bans        = apiPrefix + "/defender/bans"
		lockouts    = apiPrefix + "/defender/lockouts"
		sessions    = apiPrefix + "/sessions"
	)
	return []route{
		{method: http.MethodGet, path: "/healthz", handler: s.healthz, public: true},
		{method: http.MethodGet, path: "/readyz", handler: s.readyz, public: true},
		{method: http.MethodGet, path: "/metrics", handler: s.metricsPage, public: true},
		{method: http.MethodGet, path: apiPrefix + "/openapi.json", handler: s.openAPI, public: true},

		{method: http.MethodPost, path: accounts, handler: s.createAccount, action: "account.create"},
		{method: http.MethodGet, path: accounts, handler: s.listAccounts},
		{method: http.MethodGet, path: account, handler: s.getAccount},
		{method: http.MethodPatch, path: account, handler: s.updateAccount, action: "account.update"},
		{method: http.MethodDelete, path: account, handler: s.deleteAccount, action: "account.delete"},

		{method: http.MethodPost, path: account + "/credentials", handler: s.createCredential, action: "credential.create"},
		{method: http.MethodGet, path: account + "/credentials", handler: s.listCredentials},
		{method: http.MethodGet, path: accountCred, handler: s.getCredential},
		{method: http.MethodPatch, path: accountCred, handler: s.updateCredential, action: "credential.update"},
		{method: http.MethodDelete, path: accountCred, handler: s.deleteCredential, action: "credential.delete"},
		{method: http.MethodGet, path: accountCred + "/public-key", handler: s.publicKey},

		{method: http.MethodPut, path: feed, handler: s.putFeed, action: "feed.put"},
		{method: http.MethodGet, path: feed, handler: s.getFeed},
		{method: http.MethodDelete, path: feed, handler: s.deleteFeed, action: "feed.delete"},
		{method: http.MethodGet, path: account + "/feeds", handler: s.listFeeds},

		{method: http.MethodPost, path: globalCreds, handler: s.createCredential, action: "credential.create"},
		{method: http.MethodGet, path: globalCreds, handler: s.listCredentials},
		{method: http.MethodGet, path: globalCred, handler: s.getCredential},
		{method: http.MethodPatch, path: globalCred, handler: s.updateCredential, action: "credential.update"},
		{method: http.MethodDelete, path: globalCred, handler: s.deleteCredential, action: "credential.delete"},

		{method: http.MethodGet, path: apiPrefix + "/audit", handler: s.listAudit},

		{method: http.MethodGet, path: uploads, handler: s.listUploads},
		{method: http.MethodGet, path: uploads + "/:id", handler: s.getUpload},
		{method: http.MethodGet, path: uploads + "/:id/report", handler: s.getReport},
		{method: http.MethodGet, path: uploads + "/:id/report/errors.csv", handler: s.getReportErrors},
		{method: http.MethodPost, path: uploads + "/:id/retry", handler: s.retryUpload, action: "upload.retry"},
		{method: http.MethodGet, path: apiPrefix + "/files/:id/content", handler: s.getFileContent},

		{method: http.MethodGet, path: bans, handler: s.listBans},
		{method: http.MethodDelete, path: bans + "/:addr", handler: s.liftBan, action: "ban.lift"},
		{method: http.MethodGet, path: lockouts, handler: s.listLockouts},
		{method: http.MethodDelete, path: lockouts + "/:account", handler: s.unlockAccount, action: "lockout.lift"},

		{method: http.MethodGet, path: sessions, handler: s.listSessions},
		{method: http.MethodDelete, path: sessions + "/:id", handler: s.killSession, action: "session.kill"},
	}
}

// addRoutes registers every route with its authentication and audit
// middleware.
func (s *Server) addRoutes(e *echo.Echo) error {
	for _, r := range s.routes() {
		var mws []echo.MiddlewareFunc
		if !r.public {
			mws = append(mws, s.authenticate)
		}
		if r.action != "" {
			mws = append(mws, s.audited(r.action))
		}
		if _, err := e.AddRoute(echo.Route{Method: r.method, Path: r.path, Handler: r.handler, Middlewares: mws}); err != nil {
			return fmt.Errorf("add route %s %s: %w", r.method, r.path, err)
		}
	}
	return nil
}
