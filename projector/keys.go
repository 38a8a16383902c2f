package projector

import (
	"fmt"
	"strings"
)

// State key layout. Event IDs are ULIDs (no '/'), so the handler name is
// everything after the ID's slash.
const (
	effectPrefix  = "ferry/effect/"
	pendingPrefix = effectPrefix + "pending/"
	failedPrefix  = effectPrefix + "failed/"
	donePrefix    = effectPrefix + "done/"
)

func effectKey(status EffectStatus, eventID, handler string) string {
	return effectPrefix + string(status) + "/" + eventID + "/" + handler
}

// parseEffectKey splits "<eventID>/<handler>" (the key without its prefix).
func parseEffectKey(rest string) (eventID, handler string, ok bool) {
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func failurePrefix(projector string) string {
	return "ferry/projector/" + projector + "/failed/"
}

func failureKey(projector string, position int64) string {
	return fmt.Sprintf("%s%020d", failurePrefix(projector), position)
}

func activeKey(name string) string {
	return "ferry/projector/" + name + "/active"
}
