package protocol

// Version is the newest protocol version this package speaks.
const Version = 1

// Versions returns the protocol versions this package speaks, newest first.
func Versions() []int { return []int{Version} }

// Supported reports whether this package speaks version v.
func Supported(v int) bool { return v == Version }

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
