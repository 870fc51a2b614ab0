package sshserver_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/pkg/sftp"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/sshserver"
)

// printSink prints what it receives.
type printSink struct{}

func (printSink) Received(_ context.Context, u sshserver.Upload) (string, error) {
	fmt.Println("received", u.Account, u.Path, u.Size, u.SHA256[:12])
	return "01EXAMPLE", nil
}

// noFeeds knows no feeds.
type noFeeds struct{}

func (noFeeds) FeedFor(context.Context, string, string) (credentials.Feed, bool, error) {
	return credentials.Feed{}, false, nil
}

func (noFeeds) Feeds(context.Context, string) ([]credentials.Feed, error) { return nil, nil }

// ExampleFS serves one session's SFTP handlers over a pipe, as the SSH
// server does over a channel, and uploads a file with pkg/sftp's client.
func ExampleFS() {
	home, err := os.MkdirTemp("", "sluice-home")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(home)
	fsys, err := sshserver.NewFS(sshserver.FSConfig{HomeDir: home}, printSink{}, noFeeds{}, nil)
	if err != nil {
		log.Fatal(err)
	}

	session := &sshserver.Session{ID: "01SESSION", Account: credentials.Account{Name: "acme"}}
	handlers, end, err := fsys.Handlers(context.Background(), session)
	if err != nil {
		log.Fatal(err)
	}
	serverConn, clientConn := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sftp.NewRequestServer(serverConn, handlers).Serve()
		end() // the subsystem ended: uploads still open were cut off
	}()

	client, err := sftp.NewClientPipe(clientConn, clientConn)
	if err != nil {
		log.Fatal(err)
	}
	f, err := client.Create("/orders.csv")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.Write([]byte("id,amount\n1,9.99\n")); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil { // the upload is handed on here
		log.Fatal(err)
	}
	client.Close()
	<-done
	// Output: received acme /orders.csv 17 ae45b160639d
}
