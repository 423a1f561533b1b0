package kernel

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParseModules reads /proc/modules: one line per loaded module, "name size
// refcount deps state address", and returns name -> size in bytes.
func ParseModules(r io.Reader) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("modules line %d: want \"name size ...\", got %q", line, sc.Text())
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("modules line %d: size %q: %w", line, f[1], err)
		}
		out[f[0]] = size
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules: %w", err)
	}
	return out, nil
}
