package humanlooptest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop"
	"github.com/humanloop/libhumanloop/bindings/go/humanloop/humanlooptest"
)

func TestMain(m *testing.M) {
	// Everything is on loopback: proxies must not be involved.
	for _, v := range []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"} {
		os.Unsetenv(v)
	}
	os.Setenv("no_proxy", "*")
	os.Exit(m.Run())
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-API-KEY", "k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStartScriptRequestsReset(t *testing.T) {
	srv := humanlooptest.Start(t)
	if srv.Port <= 0 || srv.URL != "http://127.0.0.1:"+strconv.Itoa(srv.Port) || srv.BaseURL != srv.URL+"/v4" {
		t.Fatalf("addresses %d %q %q", srv.Port, srv.URL, srv.BaseURL)
	}
	// the default answer
	status, body := post(t, srv.BaseURL+"/completion", `{"model_config":{"model":"m","prompt_template":"p"}}`)
	if status != 200 || !strings.Contains(body, `"output":"Hello from the test server"`) {
		t.Fatalf("default answer %d %s", status, body)
	}
	// scripted answers, in order, then the default again
	srv.Script(t, map[string]interface{}{"status": 503, "json": map[string]interface{}{"detail": "busy"}},
		map[string]interface{}{"json": map[string]interface{}{"data": []interface{}{map[string]interface{}{"output": "ok"}}}})
	if st := srv.Stats(t); st.Pending != 2 || st.Requests != 1 {
		t.Fatalf("stats %+v", st)
	}
	if status, body := post(t, srv.BaseURL+"/completion-deployed", `{"project":"p"}`); status != 503 || !strings.Contains(body, "busy") {
		t.Fatalf("first scripted %d %s", status, body)
	}
	if status, body := post(t, srv.BaseURL+"/completion-deployed", `{"project":"q"}`); status != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("second scripted %d %s", status, body)
	}
	reqs := srv.Requests(t)
	if len(reqs) != 3 || reqs[1].Method != "POST" || reqs[1].Path != "/v4/completion-deployed" ||
		reqs[1].Body != `{"project":"p"}` || reqs[1].Header("x-api-key") != "k" || reqs[2].Header("Content-Type") != "application/json" {
		t.Fatalf("requests %+v", reqs)
	}
	srv.Reset(t)
	if reqs := srv.Requests(t); len(reqs) != 0 {
		t.Fatalf("after reset %+v", reqs)
	}
	if st := srv.Stats(t); st.Pending != 0 || st.Requests != 0 {
		t.Fatalf("stats after reset %+v", st)
	}
}

func TestBadScriptIsAnError(t *testing.T) {
	srv := humanlooptest.Start(t)
	err := srv.Control("POST", "script", map[string]interface{}{"responses": []interface{}{map[string]interface{}{"nope": 1}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Fatalf("bad script: %v", err)
	}
	if st := srv.Stats(t); st.Pending != 0 {
		t.Fatalf("queued %+v", st)
	}
}

func TestWithTheClient(t *testing.T) {
	srv := humanlooptest.Start(t)
	srv.Script(t, map[string]interface{}{"status": 500, "json": map[string]interface{}{"detail": "boom"}})
	c, err := humanloop.NewClient(humanloop.Config{APIKey: "k", Host: srv.BaseURL,
		RetryBaseDelay: humanloop.Duration(10 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Complete(context.Background(), &humanloop.CompletionRequest{Project: "p",
		ModelConfig: humanloop.ModelConfig{Model: "m", PromptTemplate: "{{q}}"}})
	if err != nil || resp.Output() != "Hello from the test server" || resp.Attempts != 2 {
		t.Fatalf("%v %+v", err, resp)
	}
	if reqs := srv.Requests(t); len(reqs) != 2 || reqs[0].Header("X-API-KEY") != "k" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestCloseStopsTheServer(t *testing.T) {
	srv, err := humanlooptest.New()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(srv.Port)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	srv.Close()
	srv.Close() // harmless
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("something still listens after Close")
	}
}

func TestStartCleanup(t *testing.T) {
	var srv *humanlooptest.Server
	t.Run("inner", func(t *testing.T) { srv = humanlooptest.Start(t) })
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(srv.Port), time.Second); err == nil {
		conn.Close()
		t.Fatal("the server of a finished test still listens")
	}
}
