package bench

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

// accounting is the kernel's process accounting (acct(2)) turned on into a
// file of the benchmark's own for one measurement. It sees every process of
// the machine that exits meanwhile, in any container.
type accounting struct{ file string }

// startAccounting turns process accounting on into a new file in dir. It
// takes accounting over from whatever had it on; stop turns it off.
func startAccounting(dir string) (*accounting, error) {
	f, err := os.CreateTemp(dir, "pacct-")
	if err != nil {
		return nil, err
	}
	f.Close()
	if err := syscall.Acct(f.Name()); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("turn process accounting on: %w", err)
	}
	return &accounting{file: f.Name()}, nil
}

// stop turns accounting off and returns the CPU per command over runs,
// the costliest first.
func (a *accounting) stop(runs int) ([]CommandCPU, error) {
	defer os.Remove(a.file)
	// acct(NULL) turns it off; syscall.Acct("") would pass an empty path.
	if _, _, errno := syscall.Syscall(syscall.SYS_ACCT, 0, 0, 0); errno != 0 {
		return nil, fmt.Errorf("turn process accounting off: %w", errno)
	}
	b, err := os.ReadFile(a.file)
	if err != nil {
		return nil, err
	}
	return perCommand(b, runs), nil
}

// acctV3Size is the size of a struct acct_v3 record (linux/acct.h).
const acctV3Size = 64

// perCommand sums acct_v3 records by command name, per run.
func perCommand(records []byte, runs int) []CommandCPU {
	if runs <= 0 {
		return nil
	}
	by := map[string]*CommandCPU{}
	for i := 0; i+acctV3Size <= len(records); i += acctV3Size {
		r := records[i : i+acctV3Size]
		if r[1]&0x0f != 3 { // ac_version
			continue
		}
		// ac_utime and ac_stime at 32 and 34, in AHZ (100 per second)
		// ticks as comp_t; ac_comm from 48.
		ticks := compT(binary.NativeEndian.Uint16(r[32:])) + compT(binary.NativeEndian.Uint16(r[34:]))
		name := strings.TrimRight(string(r[48:64]), "\x00")
		c := by[name]
		if c == nil {
			c = &CommandCPU{Command: name}
			by[name] = c
		}
		c.Processes++
		c.CPUMS += float64(ticks) * 10
	}
	out := make([]CommandCPU, 0, len(by))
	for _, c := range by {
		c.Processes /= float64(runs)
		c.CPUMS /= float64(runs)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b CommandCPU) int {
		if a.CPUMS != b.CPUMS {
			if a.CPUMS > b.CPUMS {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Command, b.Command)
	})
	return out
}

// compT decodes a comp_t: a 13-bit mantissa and a 3-bit base-8 exponent.
func compT(v uint16) uint64 {
	return uint64(v&0x1fff) << (3 * (v >> 13))
}
