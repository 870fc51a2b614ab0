package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

func TestUploads(t *testing.T) {
	env := newOpsEnv(t)
	c := env.c
	for _, name := range []string{"acme", "globex"} {
		require.Equal(t, http.StatusCreated, c.do(http.MethodPost, "/api/v1/accounts", map[string]any{"name": name}).status)
	}
	require.Equal(t, http.StatusCreated, c.do(http.MethodPut, "/api/v1/accounts/acme/feeds/orders", ordersFeed).status)

	// Oldest first; the list answers newest first.
	recorded := []pipeline.Upload{
		env.receive(t, "acme", "/orders/a.csv", "id\n1\n"),
		env.receive(t, "globex", "/in/g.csv", "id\n2\n"),
		env.receive(t, "acme", "/orders/b.csv", "id\n3\n"),
		env.receive(t, "acme", "/loose.csv", "id\n4\n"),
	}
	want := func(u pipeline.Upload) uploadResponse {
		return newUploadResponse(u)
	}

	t.Run("all, newest first", func(t *testing.T) {
		r := c.do(http.MethodGet, "/api/v1/uploads", nil)
		require.Equal(t, http.StatusOK, r.status)
		var got list[uploadResponse]
		r.decode(t, &got)
		require.Empty(t, got.Next)
		require.Len(t, got.Items, 4)
		for i, u := range got.Items {
			require.Equal(t, want(recorded[3-i]), u)
		}
		require.Equal(t, "orders", got.Items[3].Feed, "/orders/a.csv is in the orders feed")
		require.Empty(t, got.Items[0].Feed, "/loose.csv is in no feed")
		require.Equal(t, "received", got.Items[0].Status)
		require.NotNil(t, got.Items[0].PublishedAt)
		require.Equal(t, []uploadFileResponse{}, got.Items[0].Files)
	})

	t.Run("the contract holds no local path", func(t *testing.T) {
		r := c.do(http.MethodGet, "/api/v1/uploads/"+recorded[0].ID, nil)
		require.Equal(t, http.StatusOK, r.status)
		var raw map[string]any
		require.NoError(t, json.Unmarshal(r.body, &raw))
		require.NotContains(t, raw, "file")
		require.Equal(t, []any{}, raw["files"], "files is an array, never null")
		require.Equal(t, "/orders/a.csv", raw["path"])
	})

	t.Run("pages of an account", func(t *testing.T) {
		var ids []string
		next := ""
		for range 3 {
			path := "/api/v1/uploads?account=acme&limit=2"
			if next != "" {
				path += "&cursor=" + url.QueryEscape(next)
			}
			r := c.do(http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, r.status)
			var page list[uploadResponse]
			r.decode(t, &page)
			for _, u := range page.Items {
				require.Equal(t, "acme", u.Account)
				ids = append(ids, u.ID)
			}
			if next = page.Next; next == "" {
				break
			}
		}
		require.Equal(t, []string{recorded[3].ID, recorded[2].ID, recorded[0].ID}, ids)
	})

	for _, tc := range []struct {
		name  string
		query string
		want  []pipeline.Upload
	}{
		{"by status", "?status=received", []pipeline.Upload{recorded[3], recorded[2], recorded[1], recorded[0]}},
		{"by another status", "?status=ready", nil},
		{"by account and status", "?account=globex&status=received", []pipeline.Upload{recorded[1]}},
		{"an account without uploads", "?account=initech", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodGet, "/api/v1/uploads"+tc.query, nil)
			require.Equal(t, http.StatusOK, r.status)
			var got list[uploadResponse]
			r.decode(t, &got)
			require.Len(t, got.Items, len(tc.want))
			for i, u := range tc.want {
				require.Equal(t, u.ID, got.Items[i].ID)
			}
		})
	}

	t.Run("one", func(t *testing.T) {
		r := c.do(http.MethodGet, "/api/v1/uploads/"+recorded[1].ID, nil)
		require.Equal(t, http.StatusOK, r.status)
		var got uploadResponse
		r.decode(t, &got)
		require.Equal(t, want(recorded[1]), got)
		require.Equal(t, "globex", got.Account)
		require.Equal(t, "192.0.2.7:50022", got.Remote)
		require.Equal(t, "SSH-2.0-OpenSSH_9.2p1", got.ClientVersion)
		require.Equal(t, 1, got.PublishAttempts)
		require.Empty(t, got.PublishError)
	})

	t.Run("unknown", func(t *testing.T) {
		r := c.do(http.MethodGet, "/api/v1/uploads/01JZZZZZZZZZZZZZZZZZZZZZZZ", nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Equal(t, `upload "01JZZZZZZZZZZZZZZZZZZZZZZZ": not found`, r.problem(t).Detail)
	})
}
