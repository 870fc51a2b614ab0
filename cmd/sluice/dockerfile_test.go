package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// No Docker engine runs where the tests do: these tests check the
// Dockerfile's structure instead of building it (scripts/check-configs runs
// them).

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
	line int
}

// stage is one FROM and the instructions after it.
type stage struct {
	from, name string
	ins        []instruction
}

// find returns the stage's instructions of kind cmd.
func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile splits a Dockerfile into stages. It knows what this
// repository's Dockerfile uses: comments, parser directives, backslash
// continuations and "FROM image AS name".
func parseDockerfile(t *testing.T, data []byte) (args map[string]string, stages []stage) {
	t.Helper()
	args = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasPrefix(line, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, rest, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		cur.Reset()
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(rest), line: start}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			require.Equal(t, "ARG", in.cmd, "line %d: only ARG may come before the first FROM", in.line)
			k, v, _ := strings.Cut(in.args, "=")
			args[k] = v
		default:
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	require.NoError(t, sc.Err())
	require.Zero(t, cur.Len(), "the Dockerfile ends inside a continued line")
	return args, stages
}

// execForm decodes an instruction's JSON (exec form) arguments.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	require.NoError(t, json.Unmarshal([]byte(in.args), &argv), "line %d: %s must use the exec form (JSON): distroless has no shell", in.line, in.cmd)
	return argv
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	args, stages := parseDockerfile(t, data)
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage: build, then a minimal runtime")
	build, final := stages[0], stages[len(stages)-1]

	// The Go of the build stage is the go.mod's.
	mod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	goDirective := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	require.NotNil(t, goDirective, "go.mod has a go directive")
	goMinor := string(goDirective[1])
	require.Equal(t, "golang:${GO_VERSION}-trixie", build.from)
	require.Equal(t, goMinor, args["GO_VERSION"], "GO_VERSION follows the go directive of go.mod")
	require.NotEmpty(t, build.name, "the build stage is named, for COPY --from")

	// A static, reproducible binary with the capability to bind port 22.
	var compile string
	for _, r := range build.find("RUN") {
		if strings.Contains(r.args, "go build") {
			compile = r.args
		}
	}
	require.NotEmpty(t, compile, "the build stage runs go build")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/sluice", "-X main.version=", "setcap cap_net_bind_service=+ep /out/sluice"} {
		require.Contains(t, compile, want)
	}

	// The runtime: distroless static, non-root, no shell.
	require.Regexp(t, `^gcr\.io/distroless/static-debian\d+:nonroot$`, final.from)
	require.Empty(t, final.find("RUN"), "the runtime image has no shell to RUN with")
	users := final.find("USER")
	require.NotEmpty(t, users)
	require.Regexp(t, `^[1-9][0-9]*:[1-9][0-9]*$`, users[len(users)-1].args, "a numeric non-root user (Kubernetes' runAsNonRoot checks it)")

	var binCopied bool
	for _, c := range final.find("COPY") {
		f := strings.Fields(c.args)
		if slices.Contains(f, "--from="+build.name) && f[len(f)-1] == "/usr/local/bin/sluice" {
			binCopied = true
			// COPY --link dropped file capabilities in Docker 23.0
			// (moby/moby#45128); a plain COPY --from keeps them.
			require.NotContains(t, c.args, "--link", "line %d", c.line)
		}
	}
	require.True(t, binCopied, "the binary is copied from the build stage to /usr/local/bin/sluice")

	expose := final.find("EXPOSE")
	require.Len(t, expose, 1)
	require.ElementsMatch(t, []string{"22", "8080"}, strings.Fields(expose[0].args))
	volume := final.find("VOLUME")
	require.Len(t, volume, 1)
	require.Equal(t, "/data", volume[0].args)

	// The image's environment is a valid configuration that puts the data
	// on the volume, SFTP on 22 and the admin API where the health check
	// looks.
	env := dockerEnv(t, final)
	require.Equal(t, "/data", env["SLUICE_DATA_DIR"])
	require.Equal(t, ":22", env["SLUICE_SFTP_LISTEN"])
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, err := loadConfig("", environ, func(msg string) { t.Errorf("ENV: %s", msg) })
	require.NoError(t, err)
	url, err := readyURL(cfg.Admin.Listen)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8080/readyz", url)

	// The health check is the binary's own `health` subcommand: no curl.
	hc := final.find("HEALTHCHECK")
	require.Len(t, hc, 1)
	opts, cmd, ok := strings.Cut(hc[0].args, "CMD ")
	require.True(t, ok, "HEALTHCHECK ... CMD [...]")
	require.Contains(t, opts, "--timeout=")
	argv := execForm(t, instruction{cmd: "HEALTHCHECK", args: cmd, line: hc[0].line})
	require.Equal(t, []string{"/usr/local/bin/sluice", "health"}, argv)
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"health", "--help"}, &out, &out), "sluice health exists")
	require.NotRegexp(t, `(?i)\b(curl|wget)\b`, string(data[bytes.Index(data, []byte("FROM gcr.io")):]))

	entry := final.find("ENTRYPOINT")
	require.Len(t, entry, 1)
	require.Equal(t, []string{"/usr/local/bin/sluice"}, execForm(t, entry[0]))
	cmds := final.find("CMD")
	require.Len(t, cmds, 1)
	require.Equal(t, []string{"serve"}, execForm(t, cmds[0]))

	ignore, err := os.ReadFile("../../.dockerignore")
	require.NoError(t, err)
	for _, want := range []string{".git", "/data", "/sluice"} {
		require.Contains(t, strings.Fields(string(ignore)), want, ".dockerignore keeps %s out of the build context", want)
	}
}

// dockerEnv returns the variables the stage's ENV instructions set (the
// key=value form).
func dockerEnv(t *testing.T, s stage) map[string]string {
	t.Helper()
	env := map[string]string{}
	pair := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$`)
	for _, in := range s.find("ENV") {
		for _, f := range strings.Fields(in.args) {
			m := pair.FindStringSubmatch(f)
			require.NotNil(t, m, "line %d: ENV %q is not key=value", in.line, f)
			env[m[1]] = m[2]
		}
	}
	return env
}

func TestParseDockerfile(t *testing.T) {
	args, stages := parseDockerfile(t, []byte("# syntax=docker/dockerfile:1\nARG V=1\nFROM a:${V} AS b\n# c\nRUN x \\\n  # inside\n  && y\nFROM c\nUSER 1:1\n"))
	require.Equal(t, map[string]string{"V": "1"}, args)
	require.Len(t, stages, 2)
	require.Equal(t, stage{from: "a:${V}", name: "b", ins: []instruction{{cmd: "RUN", args: "x  && y", line: 5}}}, stages[0])
	require.Equal(t, []instruction{{cmd: "USER", args: "1:1", line: 9}}, stages[1].ins)
}
