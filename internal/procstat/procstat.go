// Package procstat reads the machine's CPU times from /proc/stat, for the
// benchmark's CPU accounting and the tests' measure of an idle machine.
package procstat

import (
	"bytes"
	"os"
	"strconv"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go runs on (the kernel's ABI fixes it, whatever HZ is).
const clockTick = time.Second / 100

// CPU returns the time all CPUs spent busy (user, nice, system, irq,
// softirq, steal) and idle (idle and iowait) since boot, from the first
// line of /proc/stat; zeros when it cannot be read.
func CPU() (busy, idle time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, 0
	}
	var busyTicks, idleTicks int64
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(string(v), 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			idleTicks += n
		} else {
			busyTicks += n
		}
	}
	return time.Duration(busyTicks) * clockTick, time.Duration(idleTicks) * clockTick
}
