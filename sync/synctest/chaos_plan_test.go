package synctest_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultKind is one kind of step of a chaos plan.
type faultKind int

const (
	killNode    faultKind = iota // SIGKILL a syncd node
	startNode                    // restart a killed node on its address
	killClient                   // SIGKILL a client process
	startClient                  // restart a killed client on its store, via a node
	cutProxy                     // reset every connection through a node's proxy
	pauseProxy                   // stall a node's proxy (bytes held, connections open)
	resumeProxy                  // end a pause
	dropListen                   // pg_terminate_backend a node's LISTEN connection
)

var faultNames = [...]string{"kill-node", "start-node", "kill-client", "start-client", "cut", "pause", "resume", "drop-listen"}

func (k faultKind) String() string { return faultNames[k] }

// faults are the kinds a plan picks from; the others undo them.
var faults = []faultKind{killNode, killClient, cutProxy, pauseProxy, dropListen}

// fault is one step of a chaos plan.
type fault struct {
	// At is when the step runs, from the start of the chaos phase.
	At time.Duration
	// Kind is what it does.
	Kind faultKind
	// Target is the node (or node's proxy) or client it acts on.
	Target int
	// Node is the node a started client connects to (startClient).
	Node int
	// Seed seeds a started client's writes (startClient).
	Seed uint64
}

func (f fault) String() string {
	s := fmt.Sprintf("%6s %s %d", f.At.Round(time.Millisecond), f.Kind, f.Target)
	if f.Kind == startClient {
		s += fmt.Sprintf(" via node %d", f.Node)
	}
	return s
}

// chaosPlan is everything a chaos run decides at random. It derives only
// from the seed (and the phase length and sizes), so the same seed replays
// the same faults in the same order at the same offsets.
type chaosPlan struct {
	Seed int64
	// Skew is how far the skewed client's wall clock is off.
	Skew time.Duration
	// Nodes are the nodes the clients first connect to; Seeds seed their
	// first writes.
	Nodes []int
	Seeds []uint64
	// Faults are the steps, in At order.
	Faults []fault
}

// Bounds of the plan's randomness.
const (
	minGap      = 100 * time.Millisecond // between faults
	maxGap      = 350 * time.Millisecond
	minDown     = 150 * time.Millisecond // of a kill or pause
	maxDown     = 900 * time.Millisecond
	listenSpace = 500 * time.Millisecond // between drops of one node's listener
	minSkew     = 30 * time.Second
	maxSkew     = 4 * time.Minute // within the hub's clock drift tolerance
)

// planChaos draws a plan for a chaos phase of length d with nodes nodes
// and clients clients. The first faults are every kind once, in a random
// order; the rest are drawn at random. A fault acts only on a target in a
// state it applies to (a running node, an unpaused proxy); kills and
// pauses are undone after a random down time, within d.
func planChaos(seed int64, d time.Duration, nodes, clients int) chaosPlan {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6368616f73)) // "chaos"
	p := chaosPlan{Seed: seed}
	p.Skew = (minSkew + time.Duration(rng.Int64N(int64(maxSkew-minSkew)))).Round(time.Millisecond)
	if rng.IntN(2) == 0 {
		p.Skew = -p.Skew
	}
	for range clients {
		p.Nodes = append(p.Nodes, rng.IntN(nodes))
		p.Seeds = append(p.Seeds, rng.Uint64())
	}
	nodeUp := make([]time.Duration, nodes) // down until
	paused := make([]time.Duration, nodes)
	dropped := make([]time.Duration, nodes)
	for i := range dropped {
		dropped[i] = -listenSpace
	}
	clientUp := make([]time.Duration, clients)
	first := slices.Clone(faults)
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	down := func(at time.Duration) time.Duration {
		return min(at+minDown+time.Duration(rng.Int64N(int64(maxDown-minDown))), d)
	}
	pick := func(n int, ok func(int) bool) int {
		var c []int
		for i := range n {
			if ok(i) {
				c = append(c, i)
			}
		}
		if len(c) == 0 {
			return -1
		}
		return c[rng.IntN(len(c))]
	}
	for at := minGap; at < d; at += minGap + time.Duration(rng.Int64N(int64(maxGap-minGap))) {
		kind := faults[rng.IntN(len(faults))]
		if len(first) > 0 {
			kind, first = first[0], first[1:]
		}
		switch kind {
		case killNode:
			// One node at a time, so that clients always have one.
			if pick(nodes, func(i int) bool { return nodeUp[i] > at }) >= 0 {
				continue
			}
			i := pick(nodes, func(int) bool { return true })
			nodeUp[i] = down(at)
			p.Faults = append(p.Faults, fault{At: at, Kind: killNode, Target: i}, fault{At: nodeUp[i], Kind: startNode, Target: i})
		case killClient:
			i := pick(clients, func(i int) bool { return clientUp[i] <= at })
			if i < 0 {
				continue
			}
			clientUp[i] = down(at)
			p.Faults = append(p.Faults, fault{At: at, Kind: killClient, Target: i},
				fault{At: clientUp[i], Kind: startClient, Target: i, Node: rng.IntN(nodes), Seed: rng.Uint64()})
		case cutProxy:
			p.Faults = append(p.Faults, fault{At: at, Kind: cutProxy, Target: rng.IntN(nodes)})
		case pauseProxy:
			i := pick(nodes, func(i int) bool { return paused[i] <= at })
			if i < 0 {
				continue
			}
			paused[i] = down(at)
			p.Faults = append(p.Faults, fault{At: at, Kind: pauseProxy, Target: i}, fault{At: paused[i], Kind: resumeProxy, Target: i})
		case dropListen:
			i := pick(nodes, func(i int) bool { return nodeUp[i] <= at && at-dropped[i] >= listenSpace })
			if i < 0 {
				continue
			}
			dropped[i] = at
			p.Faults = append(p.Faults, fault{At: at, Kind: dropListen, Target: i})
		}
	}
	slices.SortStableFunc(p.Faults, func(a, b fault) int { return int(a.At - b.At) })
	return p
}

// counts returns how many steps of each kind p has.
func (p chaosPlan) counts() map[faultKind]int {
	n := map[faultKind]int{}
	for _, f := range p.Faults {
		n[f.Kind]++
	}
	return n
}

// A plan derives from its seed alone: the same seed gives the same plan,
// another seed another one; every kind of fault is in it, and every step
// acts on a target in a state it applies to.
func TestChaosPlan(t *testing.T) {
	const d = 6 * time.Second
	for seed := range int64(200) {
		p := planChaos(seed, d, 2, 4)
		require.Equal(t, p, planChaos(seed, d, 2, 4), "seed %d replays", seed)
		assert.NotEqual(t, p.Faults, planChaos(seed+1, d, 2, 4).Faults, "seed %d", seed)
		n := p.counts()
		for _, k := range faults {
			require.Positive(t, n[k], "seed %d: %s in the plan", seed, k)
		}
		assert.Equal(t, n[killNode], n[startNode], "seed %d", seed)
		assert.Equal(t, n[killClient], n[startClient], "seed %d", seed)
		assert.Equal(t, n[pauseProxy], n[resumeProxy], "seed %d", seed)
		assert.LessOrEqual(t, p.Skew.Abs(), maxSkew)
		assert.GreaterOrEqual(t, p.Skew.Abs(), minSkew)

		nodeUp, clientUp, unpaused := []bool{true, true}, []bool{true, true, true, true}, []bool{true, true}
		for i, f := range p.Faults {
			require.LessOrEqual(t, f.At, d, "seed %d step %d", seed, i)
			if i > 0 {
				require.GreaterOrEqual(t, f.At, p.Faults[i-1].At, "seed %d: in order", seed)
			}
			switch f.Kind {
			case killNode:
				require.True(t, nodeUp[0] && nodeUp[1], "seed %d step %d: one node down at a time", seed, i)
				nodeUp[f.Target] = false
			case startNode:
				require.False(t, nodeUp[f.Target], "seed %d step %d", seed, i)
				nodeUp[f.Target] = true
			case killClient:
				require.True(t, clientUp[f.Target], "seed %d step %d", seed, i)
				clientUp[f.Target] = false
			case startClient:
				require.False(t, clientUp[f.Target], "seed %d step %d", seed, i)
				clientUp[f.Target] = true
			case pauseProxy:
				require.True(t, unpaused[f.Target], "seed %d step %d", seed, i)
				unpaused[f.Target] = false
			case resumeProxy:
				require.False(t, unpaused[f.Target], "seed %d step %d", seed, i)
				unpaused[f.Target] = true
			case dropListen:
				require.True(t, nodeUp[f.Target], "seed %d step %d: the node runs", seed, i)
			}
		}
	}
}
