// bench/go: the Go binding under load, against the C API in the same process.
//
// 10,000 calls from 1,000 goroutines (10 sequential calls each) against a loopback server that
// answers after 50 ms (bench/go/server.py): wall time against the ideal (calls/goroutines ×
// latency = 0.5 s), the peak number of OS threads of the process, and the process CPU per call
// (getrusage: user + system) against the C API doing the same calls in the same process:
//   - "C async": hl_call_start from C with a C callback keeping 1,000 calls in flight (each
//     finished call starts the next one from the callback), no Go involved;
//   - "C batch": one hl_batch of the 10,000 requests at concurrency 1,000.
//   - "C threads": 1,000 pthreads, each hl_call_start then waiting on its own condition variable
//     for the callback (what the goroutines do, in C: the same engine wake-ups);
//   - "C blocking" (-variants ...,c-blocking): 1,000 pthreads calling the blocking hl_complete.
//
// Each variant has its own client (warmed up first); rounds are interleaved (Go, C async,
// C batch, Go, ...). Run with bench/go/run.sh, which starts the server.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../build/lib -Wl,-rpath,${SRCDIR}/../../build/lib -lhumanloop -lpthread
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "humanloop.h"

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, done, total, errors;
    hl_client *client;
    const char *request;
} cbench;

static void cbench_callback(hl_call *call, int kind, const char *item, size_t len, void *user_data) {
    cbench *b = user_data;
    (void)kind;
    (void)len;
    int ok = strncmp(item, "{\"ok\":true", 10) == 0;
    hl_call_free(call);
    pthread_mutex_lock(&b->mu);
    b->done++;
    if (!ok) b->errors++;
    int next = b->started < b->total;
    if (next) b->started++;
    if (b->done == b->total) pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (next) hl_call_start(b->client, "complete", b->request, NULL, cbench_callback, b);
}

// cbench_run: total calls, at most concurrency in flight; returns the number of errors.
static int cbench_run(hl_client *client, const char *request, int total, int concurrency) {
    cbench b;
    memset(&b, 0, sizeof b);
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.client = client;
    b.request = request;
    b.total = total;
    int first = concurrency < total ? concurrency : total;
    pthread_mutex_lock(&b.mu);
    b.started = first;
    pthread_mutex_unlock(&b.mu);
    for (int i = 0; i < first; i++) hl_call_start(client, "complete", request, NULL, cbench_callback, &b);
    pthread_mutex_lock(&b.mu);
    while (b.done < b.total) pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    pthread_mutex_destroy(&b.mu);
    pthread_cond_destroy(&b.cv);
    return b.errors;
}

// cthreads: `threads` pthreads, each making calls one after the other until `total` calls are
// done: either hl_call_start + waiting on its own condition variable for the callback (the
// pattern of the goroutines, in C), or the blocking hl_complete (a thread per call in flight).
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    int ok;
} cslot;

typedef struct {
    hl_client *client;
    const char *request;
    int per_thread;
    int blocking;
    int errors;
    pthread_mutex_t mu;
} cthreads;

static void cslot_callback(hl_call *call, int kind, const char *item, size_t len, void *user_data) {
    cslot *slot = user_data;
    (void)kind;
    (void)len;
    int ok = strncmp(item, "{\"ok\":true", 10) == 0;
    hl_call_free(call);
    pthread_mutex_lock(&slot->mu);
    slot->done = 1;
    slot->ok = ok;
    pthread_cond_signal(&slot->cv);
    pthread_mutex_unlock(&slot->mu);
}

static void *cthreads_main(void *arg) {
    cthreads *t = arg;
    cslot slot;
    pthread_mutex_init(&slot.mu, NULL);
    pthread_cond_init(&slot.cv, NULL);
    int errors = 0;
    for (int i = 0; i < t->per_thread; i++) {
        if (t->blocking) {
            char *envelope = hl_complete(t->client, t->request);
            if (!envelope || strncmp(envelope, "{\"ok\":true", 10) != 0) errors++;
            hl_free(envelope);
            continue;
        }
        slot.done = 0;
        hl_call_start(t->client, "complete", t->request, NULL, cslot_callback, &slot);
        pthread_mutex_lock(&slot.mu);
        while (!slot.done) pthread_cond_wait(&slot.cv, &slot.mu);
        pthread_mutex_unlock(&slot.mu);
        if (!slot.ok) errors++;
    }
    pthread_mutex_destroy(&slot.mu);
    pthread_cond_destroy(&slot.cv);
    pthread_mutex_lock(&t->mu);
    t->errors += errors;
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int cthreads_run(hl_client *client, const char *request, int total, int threads, int blocking) {
    cthreads t = {client, request, total / threads, blocking, 0};
    pthread_mutex_init(&t.mu, NULL);
    pthread_t *ids = calloc(threads, sizeof *ids);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&ids[started], &attr, cthreads_main, &t) != 0) break;
    for (int i = 0; i < started; i++) pthread_join(ids[i], NULL);
    pthread_attr_destroy(&attr);
    free(ids);
    pthread_mutex_destroy(&t.mu);
    return t.errors + (threads - started) * (total / threads);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/humanloop/libhumanloop/bindings/go/humanloop"
)

var (
	host       = flag.String("host", "", "base URL of the server (http://127.0.0.1:PORT/v4)")
	calls      = flag.Int("calls", 10000, "calls per round")
	goroutines = flag.Int("goroutines", 1000, "goroutines (and C concurrency)")
	latency    = flag.Duration("latency", 50*time.Millisecond, "the server's delay (for the ideal)")
	rounds     = flag.Int("rounds", 3, "interleaved rounds")
	variants   = flag.String("variants", "go,c-threads,c-async,c-batch", "variants to run (also: c-blocking)")
	// setStdJSON is set by jsonswitch.go (-tags humanloop_jsonbench) for the variant go-stdjson.
	setStdJSON func(bool)
	cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the measured rounds to this file")
)

func request() *humanloop.CompletionRequest {
	return &humanloop.CompletionRequest{
		Project:     "go-bench",
		ModelConfig: humanloop.ModelConfig{Model: "gpt-test", PromptTemplate: "Say {{what}}", Temperature: humanloop.Float(0.7)},
		Inputs:      map[string]interface{}{"what": "hello"},
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func threadsNow() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Threads:") {
			var n int
			fmt.Sscanf(strings.TrimSpace(line[len("Threads:"):]), "%d", &n)
			return n
		}
	}
	return -1
}

// threadSampler records the peak thread count while running.
type threadSampler struct {
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleThreads() *threadSampler {
	s := &threadSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: int64(threadsNow())}
	go func() {
		defer close(s.done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if n := int64(threadsNow()); n > s.peak {
					s.peak = n
				}
			}
		}
	}()
	return s
}

func (s *threadSampler) finish() int {
	close(s.stop)
	<-s.done
	if n := int64(threadsNow()); n > s.peak {
		s.peak = n
	}
	return int(s.peak)
}

type result struct {
	wall, cpu   time.Duration
	peakThreads int
	errors      int64
	serverMax   int
}

func serverStats(base string) (maxInFlight int) {
	resp, err := http.Get(base + "/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st struct {
		MaxInFlight int `json:"max_in_flight"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st.MaxInFlight
}

func measure(base string, run func() int64) result {
	serverStats(base) // resets the server's max_in_flight
	runtime.GC()
	ts := sampleThreads()
	cpu0, t0 := cpuNow(), time.Now()
	errs := run()
	wall, cpu := time.Since(t0), cpuNow()-cpu0
	return result{wall: wall, cpu: cpu, peakThreads: ts.finish(), errors: errs, serverMax: serverStats(base)}
}

func runGo(c *humanloop.Client, n, g int) int64 {
	var errs int64
	var wg sync.WaitGroup
	per := n / g
	for i := 0; i < g; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request()
			ctx := context.Background()
			for j := 0; j < per; j++ {
				resp, err := c.Complete(ctx, req)
				if err != nil || resp.Output() == "" {
					atomic.AddInt64(&errs, 1)
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

func newCClient(cfg string) *C.hl_client {
	cs := C.CString(cfg)
	defer C.free(unsafe.Pointer(cs))
	var errJSON *C.char
	client := C.hl_client_new(cs, &errJSON)
	if client == nil {
		fmt.Fprintln(os.Stderr, "hl_client_new:", C.GoString(errJSON))
		os.Exit(1)
	}
	return client
}

func runCAsync(client *C.hl_client, request *C.char, n, g int) int64 {
	return int64(C.cbench_run(client, request, C.int(n), C.int(g)))
}

func runCBatch(client *C.hl_client, batch *C.char, n int) int64 {
	out := C.hl_batch(client, batch)
	s := C.GoString(out)
	C.hl_free(out)
	var r struct {
		OK      bool `json:"ok"`
		Results []struct {
			OK bool `json:"ok"`
		} `json:"results"`
	}
	if json.Unmarshal([]byte(s), &r) != nil || !r.OK || len(r.Results) != n {
		return int64(n)
	}
	var errs int64
	for _, x := range r.Results {
		if !x.OK {
			errs++
		}
	}
	return errs
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if *host == "" {
		fmt.Fprintln(os.Stderr, "usage: bench-go -host http://127.0.0.1:PORT/v4 (see bench/go/run.sh)")
		os.Exit(2)
	}
	base := strings.TrimSuffix(*host, "/v4")
	n, g := *calls, *goroutines
	ideal := time.Duration(n/g) * *latency
	fmt.Printf("libhumanloop %s, Go %s, GOMAXPROCS %d, %d CPUs\n", humanloop.Version(), runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("%d calls from %d goroutines (C: %d in flight), server latency %v: ideal wall %v\n\n", n, g, g, *latency, ideal)

	goClient, err := humanloop.NewClient(humanloop.Config{APIKey: "bench-key", Host: *host, MaxRetries: humanloop.Int(0)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer goClient.Close()
	cfg := fmt.Sprintf(`{"api_key":"bench-key","host":%q,"max_retries":0}`, *host)
	cThreads, cAsync, cBatch, cBlocking := newCClient(cfg), newCClient(cfg), newCClient(cfg), newCClient(cfg)
	defer C.hl_client_free(cThreads)
	defer C.hl_client_free(cAsync)
	defer C.hl_client_free(cBatch)
	defer C.hl_client_free(cBlocking)

	reqJSON, _ := json.Marshal(request())
	creq := C.CString(string(reqJSON))
	defer C.free(unsafe.Pointer(creq))
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"concurrency":%d,"requests":[`, g)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"call":"complete","request":%s}`, reqJSON)
	}
	sb.WriteString("]}")
	cbatch := C.CString(sb.String())
	defer C.free(unsafe.Pointer(cbatch))

	want := map[string]bool{}
	for _, v := range strings.Split(*variants, ",") {
		want[strings.TrimSpace(v)] = true
	}
	type variant struct {
		name string
		run  func() int64
	}
	var vs []variant
	if want["go"] {
		vs = append(vs, variant{"Go binding", func() int64 { return runGo(goClient, n, g) }})
	}
	if want["go-stdjson"] && setStdJSON != nil {
		goStdClient, err := humanloop.NewClient(humanloop.Config{APIKey: "bench-key", Host: *host, MaxRetries: humanloop.Int(0)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer goStdClient.Close()
		vs = append(vs, variant{"Go stdjson", func() int64 {
			setStdJSON(true)
			defer setStdJSON(false)
			return runGo(goStdClient, n, g)
		}})
	}
	if want["c-threads"] {
		vs = append(vs, variant{"C threads", func() int64 { return int64(C.cthreads_run(cThreads, creq, C.int(n), C.int(g), 0)) }})
	}
	if want["c-blocking"] {
		vs = append(vs, variant{"C blocking", func() int64 { return int64(C.cthreads_run(cBlocking, creq, C.int(n), C.int(g), 1)) }})
	}
	if want["c-async"] {
		vs = append(vs, variant{"C async", func() int64 { return runCAsync(cAsync, creq, n, g) }})
	}
	if want["c-batch"] {
		vs = append(vs, variant{"C batch", func() int64 { return runCBatch(cBatch, cbatch, n) }})
	}

	// warm-up: open the connections of each client
	for _, v := range vs {
		v.run()
	}
	walls := map[string][]float64{}
	cpus := map[string][]float64{}
	peaks := map[string]int{}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("%-11s %5s %9s %7s %12s %8s %7s %6s\n", "variant", "round", "wall", "/ideal", "CPU/call", "threads", "server", "errors")
	for r := 1; r <= *rounds; r++ {
		for _, v := range vs {
			res := measure(base, v.run)
			perCall := float64(res.cpu.Microseconds()) / float64(n)
			walls[v.name] = append(walls[v.name], res.wall.Seconds())
			cpus[v.name] = append(cpus[v.name], perCall)
			if res.peakThreads > peaks[v.name] {
				peaks[v.name] = res.peakThreads
			}
			fmt.Printf("%-11s %5d %8.3fs %6.2fx %9.1f µs %8d %7d %6d\n", v.name, r, res.wall.Seconds(),
				res.wall.Seconds()/ideal.Seconds(), perCall, res.peakThreads, res.serverMax, res.errors)
		}
	}
	fmt.Printf("\nmedians over %d rounds (threads: peak of the process during the variant)\n", *rounds)
	for _, v := range vs {
		fmt.Printf("%-11s wall %.3fs (%.2fx ideal)  CPU/call %.1f µs  peak threads %d\n", v.name,
			median(walls[v.name]), median(walls[v.name])/ideal.Seconds(), median(cpus[v.name]), peaks[v.name])
	}
	if want["go"] && want["go-stdjson"] && setStdJSON != nil {
		fmt.Printf("Go stdjson / Go CPU per call: x%.2f\n", median(cpus["Go stdjson"])/median(cpus["Go binding"]))
	}
	// Go / each C variant: the ratio of the medians, and the median and range of the ratios
	// within each round (the variants of one round ran back to back, under the same load).
	for _, other := range []struct{ key, name string }{
		{"c-threads", "C threads"}, {"c-blocking", "C blocking"}, {"c-async", "C async"}, {"c-batch", "C batch"},
	} {
		if !want["go"] || !want[other.key] {
			continue
		}
		var per []float64
		for i := range cpus["Go binding"] {
			per = append(per, cpus["Go binding"][i]/cpus[other.name][i])
		}
		sort.Float64s(per)
		fmt.Printf("Go / %s CPU per call: x%.2f (median of the rounds' ratios x%.2f, rounds %.2f..%.2f)\n", other.name,
			median(cpus["Go binding"])/median(cpus[other.name]), median(per), per[0], per[len(per)-1])
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
}
