package lane

import (
	"slices"
	"testing"
)

func TestSysvipcIDs(t *testing.T) {
	shm := []byte("       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n" +
		"         0          3   600                  4096    12    12      0 10001 10001 10001 10001          0          0 1700000000                     0                     0\n" +
		"  12345678         17   644                 65536    40    40      0 10001 10001 10001 10001          0          0 1700000000                     0                     0\n")
	if got, want := sysvipcIDs(shm), []int{3, 17}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := sysvipcIDs([]byte("       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n")); len(got) != 0 {
		t.Fatalf("header only: got %v", got)
	}
}
