package synctest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fan-out floor: what delivering one small frame to each of R
// loopback TCP connections costs a process that does nothing else. It is
// BenchmarkFanout's baseline, measured in the same run with the same
// receivers, pinning and frame size: the kernel's share of a delivery
// (the write system call, which on loopback also runs the receiving side
// of TCP and wakes the receiver) cannot be removed by the hub, so the
// hub's CPU per delivery is read against it.

// Settings of the "rawfanout" child, which writes the frames.
const (
	envRawFrame = "FERRY_RAW_FANOUT_FRAME" // bytes per frame
	envRawConns = "FERRY_RAW_FANOUT_CONNS" // connections to accept before reading commands
	envRawMode  = "FERRY_RAW_FANOUT_MODE"  // "loop" (one goroutine writes to every connection) or "goroutines" (one per connection, woken per frame)
)

// childRawFanout listens on loopback, prints "addr ADDR", accepts the
// connections, prints "ready", then writes one frame to every connection
// for each line it reads on stdin, and prints "sent" once every write
// returned.
func childRawFanout() error {
	size, err := strconv.Atoi(os.Getenv(envRawFrame))
	if err != nil {
		return fmt.Errorf("%s: %w", envRawFrame, err)
	}
	n, err := strconv.Atoi(os.Getenv(envRawConns))
	if err != nil {
		return fmt.Errorf("%s: %w", envRawConns, err)
	}
	mode := os.Getenv(envRawMode)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("addr %s\n", ln.Addr())
	conns := make([]net.Conn, n)
	for i := range conns {
		if conns[i], err = ln.Accept(); err != nil {
			return err
		}
	}
	frame := make([]byte, size)
	for i := range frame {
		frame[i] = 'x'
	}
	var wg sync.WaitGroup
	wake := make([]chan struct{}, n)
	if mode == "goroutines" {
		for i, c := range conns {
			wake[i] = make(chan struct{}, 1)
			go func() {
				for range wake[i] {
					_, _ = c.Write(frame)
					wg.Done()
				}
			}()
		}
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch mode {
		case "goroutines":
			wg.Add(n)
			for _, w := range wake {
				w <- struct{}{}
			}
			wg.Wait()
		default:
			for _, c := range conns {
				if _, err := c.Write(frame); err != nil {
					return err
				}
			}
		}
		fmt.Println("sent")
	}
	return in.Err()
}

// fanoutFloor runs the rawfanout child in mode with receivers connections
// and frames of size bytes (pinned to cpus, if set), sends it events
// rounds, each after every receiver read the round before, and returns
// its CPU time per delivery in µs.
func fanoutFloor(b *testing.B, mode string, receivers, events, size int, cpus string) float64 {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=rawfanout", envRawMode+"="+mode,
		envRawFrame+"="+strconv.Itoa(size), envRawConns+"="+strconv.Itoa(receivers))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(b, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	line := func() string {
		require.True(b, out.Scan(), "rawfanout child ended: %v", out.Err())
		return out.Text()
	}
	addr, ok := strings.CutPrefix(line(), "addr ")
	require.True(b, ok)
	if cpus != "" {
		pin(b, cpus, cmd.Process.Pid)
	}
	arrivals := make(chan struct{}, receivers)
	var readers sync.WaitGroup
	defer readers.Wait()
	for range receivers {
		c, err := net.Dial("tcp", addr)
		require.NoError(b, err)
		defer c.Close()
		readers.Go(func() {
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				arrivals <- struct{}{}
			}
		})
	}
	require.Equal(b, "ready", line())
	time.Sleep(500 * time.Millisecond)
	cpu0 := procCPU(b, cmd.Process.Pid)
	for i := range events {
		_, err := fmt.Fprintln(stdin, "go")
		require.NoError(b, err)
		require.Equal(b, "sent", line())
		deadline := time.After(waitTimeout)
		for r := range receivers {
			select {
			case <-arrivals:
			case <-deadline:
				b.Fatalf("floor round %d: %d of %d receivers read it", i, r, receivers)
			}
		}
	}
	cpu := procCPU(b, cmd.Process.Pid) - cpu0
	return float64(cpu.Microseconds()) / float64(receivers*events)
}
