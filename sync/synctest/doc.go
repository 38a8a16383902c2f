// Package synctest holds Ferry's end-to-end sync tests and the helpers they
// share: hubs and clients wired together the way applications use them,
// with real syncd processes where crashes and multiple nodes matter.
//
// The tests (the _test.go files of this package) check the properties the
// sync design promises:
//
//   - convergence: three devices write offline to shared streams and sync
//     in different orders; afterwards every device holds the hub's event
//     set, folds the same aggregate state, has the same read model, and
//     every Once effect ran exactly once, on the device that wrote it;
//   - crashes: syncd killed with SIGKILL in the middle of a large push, a
//     client process killed in the middle of a pull; nothing is lost,
//     nothing duplicated, cursors resume;
//   - two syncd processes on one PostgreSQL: live propagation across
//     nodes and one gap-free ledger under concurrent pushes;
//   - chaos (chaos_test.go): two syncd nodes on one PostgreSQL and four
//     client processes under a seeded schedule of faults — SIGKILL of
//     nodes and clients, connections cut and stalled by an in-test proxy
//     (Proxy), the nodes' LISTEN connections terminated, a client with a
//     skewed clock; afterwards nothing is lost or duplicated, hub
//     positions have no gap and every replica's digest equals the hub's
//     for its scope. A failure prints the seed; -chaos.seed N or
//     FERRY_CHAOS_SEED=N replays the schedule;
//   - security against a real syncd: tenant isolation, forged, expired and
//     missing tokens, streams outside a token's scope.
//
// The benchmarks (bench_test.go) measure push throughput, catch-up speed
// and memory, and live propagation latency against raw baselines measured
// in the same run.
//
// The exported helpers build and run syncd (Syncd), read and check ledgers
// (ReadLedger, CheckLedger), relay connections through a proxy that can
// cut or stall them (Proxy), run a client process to kill mid-pull and check
// what it stored (PullChild, RunPullChild, StoredPrefix), issue tokens
// (Token), and gate PostgreSQL tests on FERRY_TEST_POSTGRES_URL
// (PostgresURL, FreshSchema). sync/client's tests use them too.
package synctest
