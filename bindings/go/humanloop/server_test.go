package humanloop_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// testServer is the repository's test server (Tests/server/hl_test_server.py), started as a
// child process on 127.0.0.1 with a free port; it exits when its stdin closes.
type testServer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	port  string
	base  string // http://127.0.0.1:<port>
}

func serverScript() string {
	if p := os.Getenv("HL_TEST_SERVER"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "Tests", "server", "hl_test_server.py")
}

func launchServer() (*testServer, error) {
	cmd := exec.Command("python3", serverScript(), "--port", "0", "--exit-on-stdin-eof")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the test server: %v", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORT=") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("test server: no PORT= line (%q, %v)", line, err)
	}
	s := &testServer{cmd: cmd, stdin: stdin, port: strings.TrimSpace(strings.TrimPrefix(line, "PORT="))}
	s.base = "http://127.0.0.1:" + s.port
	return s, nil
}

// startServer starts a server of the test's own (stopped at the end of the test).
func startServer(t testing.TB) *testServer {
	t.Helper()
	s, err := launchServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) stop() {
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func (s *testServer) host() string { return s.base + "/v4" }

func (s *testServer) control(t testing.TB, method, path string, body interface{}) map[string]interface{} {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+"/_control/"+path, rd)
	tr := &http.Transport{Proxy: nil}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("control %s: %v", path, err)
	}
	defer resp.Body.Close()
	defer tr.CloseIdleConnections()
	var out map[string]interface{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("control %s: status %d, %v %v", path, resp.StatusCode, out, err)
	}
	return out
}

// script queues scripted responses (each an R of PROTOCOL.md).
func (s *testServer) script(t testing.TB, responses ...interface{}) {
	t.Helper()
	s.control(t, "POST", "script", map[string]interface{}{"responses": responses})
}

func (s *testServer) reset(t testing.TB) { s.control(t, "POST", "reset", nil) }

type recordedRequest struct {
	Method     string     `json:"method"`
	Path       string     `json:"path"`
	Headers    [][]string `json:"headers"`
	Body       string     `json:"body"`
	Connection int        `json:"connection"`
}

func (r recordedRequest) header(name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

func (s *testServer) requests(t testing.TB) []recordedRequest {
	t.Helper()
	out := s.control(t, "GET", "requests", nil)
	b, _ := json.Marshal(out["requests"])
	var reqs []recordedRequest
	if err := json.Unmarshal(b, &reqs); err != nil {
		t.Fatal(err)
	}
	return reqs
}

type serverStats struct {
	ConnectionsOpened int `json:"connections_opened"`
	ConnectionsOpen   int `json:"connections_open"`
	Requests          int `json:"requests"`
}

func (s *testServer) stats(t testing.TB) serverStats {
	t.Helper()
	out := s.control(t, "GET", "stats", nil)
	b, _ := json.Marshal(out)
	var st serverStats
	_ = json.Unmarshal(b, &st)
	return st
}

// waitOpen waits until the server has no client connection open (the client closed it).
func (s *testServer) waitNoOpenConnections(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := s.stats(t)
		if st.ConnectionsOpen == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still has %d connection(s) open after %v", st.ConnectionsOpen, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var shared *testServer

func TestMain(m *testing.M) {
	// Everything is on loopback: proxies must not be involved.
	for _, v := range []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"} {
		os.Unsetenv(v)
	}
	os.Setenv("no_proxy", "*")
	var err error
	if shared, err = launchServer(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.stop()
	os.Exit(code)
}
