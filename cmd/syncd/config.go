package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ferrysync/ferry/sync/hub"
)

// Environment variables that give the flags their defaults.
const (
	envListen     = "FERRY_LISTEN"
	envDataDir    = "FERRY_DATA_DIR"
	envPostgres   = "FERRY_POSTGRES_URL"
	envSchema     = "FERRY_POSTGRES_SCHEMA"
	envSecret     = "FERRY_SECRET"
	envSecretFile = "FERRY_SECRET_FILE"
	envTLSCert    = "FERRY_TLS_CERT"
	envTLSKey     = "FERRY_TLS_KEY"
	envNodeID     = "FERRY_NODE_ID"
	envLogLevel   = "FERRY_LOG_LEVEL"
	envMaxOpen    = "FERRY_MAX_OPEN_TENANTS"
	envClockShift = "FERRY_CLOCK_OFFSET"
	envSendBytes  = "FERRY_SEND_BUFFER"
	envConnBytes  = "FERRY_CONN_SEND_BUFFER"
	envMaxConns   = "FERRY_MAX_CONNS"
	envMaxSubject = "FERRY_MAX_CONNS_PER_SUBJECT"
	envPageCache  = "FERRY_SQLITE_PAGE_CACHE"
)

// secretFileName is the generated secret's name in the data directory.
const secretFileName = "secret"

// common holds the flags syncd and syncd token share.
type common struct {
	dataDir    string
	secretFile string
	logLevel   string
	getenv     func(string) string
}

// envOr returns getenv(key), or def when it is empty.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// envInt returns getenv(key) as an int, def when it is empty, or an error
// naming key when it is not a number.
func envInt(getenv func(string) string, key string, def int) (int, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, usageError("%s=%q: want a number", key, v)
	}
	return n, nil
}

// envDuration returns getenv(key) as a duration, 0 when it is empty, or an
// error naming key when it is not one.
func envDuration(getenv func(string) string, key string) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, usageError("%s=%q: want a duration such as 90s or -2h", key, v)
	}
	return d, nil
}

// byteSize is a flag of a number of bytes, written as bytes or with a
// KiB, MiB or GiB suffix.
type byteSize int

func (b *byteSize) String() string {
	for _, u := range sizeUnits {
		if *b >= byteSize(u.n) && int(*b)%u.n == 0 {
			return strconv.Itoa(int(*b)/u.n) + u.suffix
		}
	}
	return strconv.Itoa(int(*b))
}

func (b *byteSize) Set(v string) error {
	num, mul := strings.TrimSpace(v), 1
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mul = strings.TrimSpace(n), u.n
			break
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > math.MaxInt/mul {
		return fmt.Errorf("%q: want a positive number of bytes, KiB, MiB or GiB", v)
	}
	*b = byteSize(n * mul)
	return nil
}

var sizeUnits = []struct {
	suffix string
	n      int
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// envSize returns getenv(key) as a byteSize, def when it is empty, or an
// error naming key.
func envSize(getenv func(string) string, key string, def int) (byteSize, error) {
	b := byteSize(def)
	if v := getenv(key); v != "" {
		if err := b.Set(v); err != nil {
			return byteSize(def), usageError("%s=%v", key, err)
		}
	}
	return b, nil
}

// register adds the shared flags to fs.
func (c *common) register(fs *flag.FlagSet, getenv func(string) string) {
	c.getenv = getenv
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, envDataDir, "./ferry-data"),
		"directory for the embedded SQLite ledgers and the generated secret (env "+envDataDir+")")
	fs.StringVar(&c.secretFile, "secret-file", getenv(envSecretFile),
		"file holding the token signing secret (env "+envSecretFile+"; or set "+envSecret+"; default: generated into the data directory)")
	fs.StringVar(&c.logLevel, "log-level", envOr(getenv, envLogLevel, "info"),
		"log level: debug, info, warn or error (env "+envLogLevel+")")
}

// logger returns a text logger on stderr at the configured level.
func (c *common) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usageError("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// secret returns the token signing secret: FERRY_SECRET, else the
// --secret-file, else the data directory's secret file. When that file is
// missing, it returns a new secret and save, which writes it there (0600):
// the caller saves it once it is sure to use it (the server once it
// listens), so that a syncd that fails to start leaves no secret behind.
// save is nil when there is nothing to write.
func (c *common) secret() (secret []byte, save func(log *slog.Logger) error, err error) {
	if s := c.getenv(envSecret); s != "" {
		secret, err = checkSecret([]byte(s), envSecret)
		return secret, nil, err
	}
	path := c.secretFile
	if path == "" {
		path = filepath.Join(c.dataDir, secretFileName)
	}
	b, err := os.ReadFile(path)
	if err == nil {
		secret, err = checkSecret(bytes.TrimSpace(b), path)
		return secret, nil, err
	}
	if c.secretFile != "" || !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("secret: %w", err)
	}
	secret = []byte(hex.EncodeToString(raw))
	return secret, func(log *slog.Logger) error { return writeSecret(path, secret, log) }, nil
}

// writeSecret creates the file path holding secret. It fails if the file
// appeared since it was found missing (another syncd made it first).
func writeSecret(path string, secret []byte, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secret: %s appeared while starting (another syncd made it); start again", path)
	}
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	_, err = f.Write(append(secret, '\n'))
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	log.Warn("generated a token signing secret; keep it, tokens signed with it stop working without it",
		slog.String("path", path))
	return nil
}

func checkSecret(b []byte, from string) ([]byte, error) {
	if len(b) < hub.MinSecretBytes {
		return nil, fmt.Errorf("secret from %s is shorter than %d bytes", from, hub.MinSecretBytes)
	}
	return b, nil
}

// parseFlags parses args with fs. Help (-h, --help) prints the usage on
// stderr and returns flag.ErrHelp; any other problem is returned as a
// one-line error, without the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stderr)
		usage()
		return err
	}
	if err != nil {
		return usageError("%v (see %s --help)", err, fs.Name())
	}
	return nil
}

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
