// Package humanlooptest runs the project's Humanloop-compatible test server for Go tests: the
// counterpart of the Python package's humanloop_native.testing (TestServer and the pytest
// fixture humanloop_server).
//
// The server is Tests/server/hl_test_server.py (Python 3 standard library only; its protocol is
// Tests/server/PROTOCOL.md), run as a child process on 127.0.0.1 with a free port. It serves the
// four completion routes with default answers, scripted answers, faults and event streams, and
// records every request, so code that calls Humanloop can be tested without the network:
//
//	func TestMyCode(t *testing.T) {
//		srv := humanlooptest.Start(t) // stopped when the test ends
//		srv.Script(t, map[string]interface{}{"status": 503},
//			map[string]interface{}{"json": map[string]interface{}{"data": []interface{}{
//				map[string]interface{}{"output": "ok"}}}})
//		client, _ := humanloop.NewClient(humanloop.Config{APIKey: "k", Host: srv.BaseURL})
//		defer client.Close()
//		... // call your code with client
//		if n := len(srv.Requests(t)); n != 2 { t.Fatalf("%d requests", n) }
//	}
//
// One server for a whole package: New in TestMain, Close after m.Run, and Reset at the start of
// each test (what the Python fixture does).
//
// The script is found, in this order: $HL_TEST_SERVER (the path of hl_test_server.py, run with
// python3); Tests/server/hl_test_server.py of the repository checkout this package sits in;
// hl-test-server on $PATH (installed by make install). python3 must be on $PATH for the first
// two.
package humanlooptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running test server. BaseURL is what a client takes as its host.
type Server struct {
	// BaseURL is "http://127.0.0.1:<port>/v4": the Host of a humanloop.Config.
	BaseURL string
	// URL is "http://127.0.0.1:<port>", the server's root (control routes under /_control/).
	URL string
	// Port is the TCP port on 127.0.0.1.
	Port int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	once  sync.Once
}

// Request is one recorded API request (GET /_control/requests).
type Request struct {
	Method string `json:"method"`
	// Path is the request target as received (query string included).
	Path string `json:"path"`
	// Headers are [name, value] pairs in received order (names keep their case).
	Headers [][]string `json:"headers"`
	// Body is the body as text (U+FFFD for invalid UTF-8; BodyB64 then holds the exact bytes).
	Body    string `json:"body"`
	BodyB64 string `json:"body_b64,omitempty"`
	// Connection is the id of the TCP connection the request came on.
	Connection int `json:"connection"`
	// Time is seconds since the server started, when the request was complete.
	Time float64 `json:"time"`
}

// Header returns the first value of the header name (case-insensitive), or "".
func (r Request) Header(name string) string {
	for _, h := range r.Headers {
		if len(h) == 2 && strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

// Stats are the server's counters since the last reset (GET /_control/stats).
type Stats struct {
	ConnectionsOpened int `json:"connections_opened"`
	ConnectionsOpen   int `json:"connections_open"`
	Requests          int `json:"requests"`
	Pending           int `json:"pending"`
}

// ServerCommand is the command that runs the test server (see the package documentation for
// where it is looked for), without the server's options.
func ServerCommand() ([]string, error) {
	if p := os.Getenv("HL_TEST_SERVER"); p != "" {
		return []string{"python3", p}, nil
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		// bindings/go/humanloop/humanlooptest -> the repository's root
		p := filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "Tests", "server", "hl_test_server.py")
		if _, err := os.Stat(p); err == nil {
			return []string{"python3", p}, nil
		}
	}
	if p, err := exec.LookPath("hl-test-server"); err == nil {
		return []string{p}, nil
	}
	return nil, errors.New("humanlooptest: the test server was not found: set HL_TEST_SERVER to " +
		"hl_test_server.py, use a checkout of the repository, or install hl-test-server (make install)")
}

// New starts a server; the caller stops it with Close. Start is the form for one test.
func New() (*Server, error) {
	command, err := ServerCommand()
	if err != nil {
		return nil, err
	}
	args := append(command[1:], "--port", "0", "--exit-on-stdin-eof")
	cmd := exec.Command(command[0], args...)
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
		return nil, fmt.Errorf("humanlooptest: starting the test server: %v", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PORT=")))
	if err != nil || !strings.HasPrefix(line, "PORT=") || perr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("humanlooptest: test server: no PORT= line (%q, %v)", line, err)
	}
	s := &Server{cmd: cmd, stdin: stdin, Port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	s.BaseURL = s.URL + "/v4"
	return s, nil
}

// Start starts a server of the test's own, stopped when the test and its subtests end
// (t.Cleanup). It fails the test (t.Fatal) when the server cannot start.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server: it closes the server's stdin (the server closes every connection and
// exits), and kills it after 5 seconds if it has not exited. Nothing listens on the port
// afterwards. Calling Close again does nothing.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	})
}

// Control sends a control request (method, "/_control/"+path, body encoded as JSON unless nil)
// and decodes its JSON answer into out (unless out is nil). Script, Reset, Requests and Stats
// use it.
func (s *Server) Control(method, path string, body, out interface{}) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/_control/"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tr := &http.Transport{Proxy: nil} // loopback: never through a proxy
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("humanlooptest: %s /_control/%s: %v", method, path, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("humanlooptest: %s /_control/%s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("humanlooptest: %s /_control/%s: status %d: %s", method, path, resp.StatusCode, text)
	}
	if out != nil {
		if err := json.Unmarshal(text, out); err != nil {
			return fmt.Errorf("humanlooptest: %s /_control/%s: %v: %s", method, path, err, text)
		}
	}
	return nil
}

// Script queues scripted responses, each an R of Tests/server/PROTOCOL.md (a map or a struct
// encoded as a JSON object: "status", "json", "body", "headers", "delay", "stream", "fault",
// ...); each later API request takes the next one. A bad script fails the test and queues
// nothing.
func (s *Server) Script(t testing.TB, responses ...interface{}) {
	t.Helper()
	if responses == nil {
		responses = []interface{}{}
	}
	if err := s.Control("POST", "script", map[string]interface{}{"responses": responses}, nil); err != nil {
		t.Fatal(err)
	}
}

// Reset clears the scripted responses not used yet, the recorded requests and the counters.
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	if err := s.Control("POST", "reset", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// Requests returns the API requests recorded since the last reset, in arrival order.
func (s *Server) Requests(t testing.TB) []Request {
	t.Helper()
	var out struct {
		Requests []Request `json:"requests"`
	}
	if err := s.Control("GET", "requests", nil, &out); err != nil {
		t.Fatal(err)
	}
	return out.Requests
}

// Stats returns the server's counters.
func (s *Server) Stats(t testing.TB) Stats {
	t.Helper()
	var st Stats
	if err := s.Control("GET", "stats", nil, &st); err != nil {
		t.Fatal(err)
	}
	return st
}
