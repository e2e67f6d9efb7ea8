package humanloop_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop/humanlooptest"
)

// The tests use the package humanlooptest: the repository's test server
// (Tests/server/hl_test_server.py) as a child process on 127.0.0.1 with a free port.
type testServer = humanlooptest.Server

// startServer starts a server of the test's own (stopped at the end of the test).
func startServer(t testing.TB) *testServer {
	t.Helper()
	return humanlooptest.Start(t)
}

// waitNoOpenConnections waits until the server has no client connection open (the client
// closed it).
func waitNoOpenConnections(t testing.TB, s *testServer, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := s.Stats(t)
		if st.ConnectionsOpen == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still has %d connection(s) open after %v", st.ConnectionsOpen, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shared is the server of the tests that do not start their own (they Reset it first).
var shared *testServer

func TestMain(m *testing.M) {
	// Everything is on loopback: proxies must not be involved.
	for _, v := range []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"} {
		os.Unsetenv(v)
	}
	os.Setenv("no_proxy", "*")
	var err error
	if shared, err = humanlooptest.New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Close()
	os.Exit(code)
}
