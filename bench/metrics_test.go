package bench

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// scrape returns the value of one unlabelled sample (or histogram
// _sum/_count) from a Prometheus text endpoint at addr.
func scrape(addr, name string) (float64, error) {
	vs, err := scrapeAll(addr, name)
	if err != nil {
		return 0, err
	}
	return vs[0], nil
}

// scrapeAll returns the values of names, in order.
func scrapeAll(addr string, names ...string) ([]float64, error) {
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	want := make(map[string]int, len(names))
	for i, n := range names {
		want[n] = i
	}
	out := make([]float64, len(names))
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		i, ok := want[name]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		out[i] = v
		found++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	if found != len(names) {
		return nil, fmt.Errorf("scrape %s: found %d of %v", addr, found, names)
	}
	return out, nil
}
