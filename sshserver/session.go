package sshserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/sluicehq/sluice/credentials"
)

// Session describes one authenticated SSH connection. Values returned by
// Server.Sessions are copies.
type Session struct {
	ID             string              // ULID, also the "session" of log lines and audit events
	Account        credentials.Account // as of login
	Remote         netip.AddrPort      //
	ClientVersion  string              // e.g. "SSH-2.0-OpenSSH_9.2p1 Debian-2", sanitized
	Method         string              // "password" | "publickey" | "publickey,password"
	KeyFingerprint string              // for key logins, SHA256:…
	Started        time.Time           //
}

// maxChannelsPerConn bounds the session channels one connection may hold
// open at once, as OpenSSH's MaxSessions does.
const maxChannelsPerConn = 10

// handleChannels serves the channels the client opens until the connection
// ends. Only "session" channels are accepted.
func (c *conn) handleChannels(ctx context.Context, chans <-chan ssh.NewChannel) {
	var open atomic.Int32
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels are served")
			continue
		}
		if c.srv.isDraining() {
			_ = nc.Reject(ssh.ResourceShortage, "server shutting down")
			continue
		}
		if open.Load() >= maxChannelsPerConn {
			_ = nc.Reject(ssh.ResourceShortage, "too many sessions on this connection")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			c.logger.Debug("accept channel", "err", err)
			continue
		}
		open.Add(1)
		c.wg.Go(func() {
			defer open.Add(-1)
			c.serveChannel(ctx, ch, reqs)
		})
	}
}

// serveChannel answers the requests of one session channel: the "sftp"
// subsystem is served, everything else (exec, shell, pty, env, …) refused.
// It returns when the client closes the channel or the connection ends.
func (c *conn) serveChannel(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer c.recoverPanic("channel")
	defer ch.Close()
	started := false
	for req := range reqs {
		switch req.Type {
		case "subsystem":
			var p struct{ Name string }
			ok := ssh.Unmarshal(req.Payload, &p) == nil && p.Name == "sftp" && !started
			_ = req.Reply(ok, nil)
			if !ok {
				c.logger.Debug("subsystem refused", "subsystem", clean(p.Name, 32))
				continue
			}
			started = true
			c.wg.Go(func() { c.serveSFTP(ctx, ch) })
		case "exec", "shell":
			// Reply, then end the channel so that the client exits at once
			// instead of waiting on a channel that will never carry data.
			_ = req.Reply(false, nil)
			c.logger.Debug("request refused", "type", req.Type)
			if !started {
				_ = ch.Close()
			}
		default: // pty-req, env, x11-req, auth-agent-req@openssh.com, …
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// serveSFTP runs the SFTP subsystem on ch with the handlers of c's session,
// then ends the channel.
func (c *conn) serveSFTP(ctx context.Context, ch ssh.Channel) {
	defer c.recoverPanic("sftp")
	defer ch.Close()
	sess, ok := c.session()
	if !ok {
		return
	}
	handlers, done, err := c.srv.files.Handlers(ctx, &sess)
	if err != nil {
		c.logger.Error("start sftp session", "err", err)
		return
	}
	stream := &sftpStream{rw: ch}
	c.addStream(stream)
	defer c.removeStream(stream)
	c.logger.Debug("sftp started")
	// The FS never keeps a request's buffer past WriteAt, so pooled packet
	// buffers are safe and save an allocation per packet.
	rs := sftp.NewRequestServer(stream, handlers, sftp.WithRSAllocator())
	err = rs.Serve()
	if done != nil {
		done()
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		c.logger.Debug("sftp ended", "err", err)
	} else {
		c.logger.Debug("sftp ended")
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
}

// recoverPanic logs a panic of one of c's goroutines and closes c, so that
// one broken connection never takes the server down.
func (c *conn) recoverPanic(where string) {
	if v := recover(); v != nil {
		c.logger.Error("panic in connection", "where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		c.close()
	}
}

// sftpStream is the channel an SFTP server reads requests from and writes
// responses to. It follows the packet framing in both directions (a 4-byte
// length, then the type) to know whether the session is busy: a request not
// yet answered, or a file handle still open. A graceful shutdown closes
// sessions only once they are not busy, so in-flight transfers finish.
//
// pkg/sftp reads from one goroutine and serializes its writes, so each
// direction's framing state is touched by one goroutine at a time; the
// counters are atomic because the shutdown reads them.
type sftpStream struct {
	rw      io.ReadWriteCloser
	in, out framer
	pending atomic.Int64 // requests not yet answered
	handles atomic.Int64 // handles opened and not yet closed
}

// SFTP packet types the stream counts (draft-ietf-secsh-filexfer-02).
const (
	fxpClose  = 4
	fxpHandle = 102
)

func (s *sftpStream) Read(p []byte) (int, error) {
	n, err := s.rw.Read(p)
	s.in.feed(p[:n], func(typ byte) {
		s.pending.Add(1)
		if typ == fxpClose {
			s.handles.Add(-1)
		}
	})
	return n, err
}

func (s *sftpStream) Write(p []byte) (int, error) {
	n, err := s.rw.Write(p)
	s.out.feed(p[:n], func(typ byte) {
		s.pending.Add(-1)
		if typ == fxpHandle {
			s.handles.Add(1)
		}
	})
	return n, err
}

func (s *sftpStream) Close() error { return s.rw.Close() }

// busy reports whether a request is unanswered or a handle open.
func (s *sftpStream) busy() bool { return s.pending.Load() > 0 || s.handles.Load() > 0 }

// framer finds packet boundaries in one direction of an SFTP stream.
type framer struct {
	hdr  [5]byte // length (4 bytes) and type of the packet being started
	have int     // bytes of hdr read so far
	skip uint32  // bytes of the current packet's body still to pass
}

// feed passes the bytes b of the stream and calls onPacket with the type of
// each packet whose header completes in b.
func (f *framer) feed(b []byte, onPacket func(typ byte)) {
	for len(b) > 0 {
		if f.skip > 0 {
			n := uint32(min(len(b), int(min(f.skip, 1<<30))))
			f.skip -= n
			b = b[n:]
			continue
		}
		n := copy(f.hdr[f.have:], b)
		f.have += n
		b = b[n:]
		if f.have < len(f.hdr) {
			return
		}
		length := binary.BigEndian.Uint32(f.hdr[:4])
		f.have = 0
		if length > 0 {
			f.skip = length - 1 // the type byte is part of length
		}
		onPacket(f.hdr[4])
	}
}
