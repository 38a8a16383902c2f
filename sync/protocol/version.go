package protocol

// Version is the newest protocol version this package speaks. Version 2
// adds, all optional on the wire: Hello.App, Welcome.Time, and the
// per-event CodeDeferred answer with AckResult.RetryAfterMS, which a hub
// sends only on connections that negotiated version 2. Version 3 adds
// ledger digests (Hello.Digest, Welcome.Digest, CaughtUp.Digest) and range
// reads (Hello.Until and Hello.Parts, answered with Welcome.Digests), with
// which a client detects and repairs a copy that differs from the hub's.
const Version = 3

// FrameVersion is the "v" of every frame's envelope: the frames' JSON
// shape, unchanged since version 1 (the fields added later are optional,
// and older peers skip the fields they do not know). Keeping it at 1 lets
// a newer client say Hello to an older hub, which then negotiates 1.
const FrameVersion = 1

// Versions returns the protocol versions this package speaks, newest first.
func Versions() []int { return []int{Version, 2, 1} }

// Supported reports whether this package speaks version v.
func Supported(v int) bool { return v >= 1 && v <= Version }

// Negotiate returns the newest version both this package and a client
// offering offered speak, or false when there is none (the hub then sends an
// Error with CodeUnsupportedVersion).
func Negotiate(offered []int) (int, bool) {
	best := 0
	for _, v := range offered {
		if Supported(v) && v > best {
			best = v
		}
	}
	return best, best > 0
}
