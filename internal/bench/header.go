package bench

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the size of the header at the start of every bench payload:
// magic "MQB" and a version byte (4), run id (8), producer id (4), sequence
// (8), intended send time (8), big-endian. The version says which clock the
// send time is on:
//
//	1  ns since the run's start, on the sender's monotonic clock: only the
//	   sending process can compare it with anything (same-process e2e);
//	2  wall-clock Unix ns (--e2e-cross-host), for a reader in another
//	   process or on another host whose clock agrees with the sender's;
//	3  as 2, sent during --warmup (a reader leaves it out of its histogram).
//
// A reader that knows only version 1 takes a wall-clock payload as foreign,
// never as a time since its own start.
const HeaderLen = 32

const (
	versionMonotonic = 1
	versionWall      = 2
	versionWallWarm  = 3
)

var magic = [3]byte{'M', 'Q', 'B'}

// header is what a payload says about itself.
type header struct {
	run      uint64
	producer uint32
	seq      uint64
	// intended is the intended send time: ns since the run's start, or
	// Unix ns when wall is set.
	intended int64
	wall     bool
	// warm: sent during --warmup (wall-clock payloads only say so; a
	// monotonic reader compares intended with its own --warmup).
	warm bool
}

func putHeader(b []byte, h header) {
	copy(b, magic[:])
	switch {
	case h.wall && h.warm:
		b[3] = versionWallWarm
	case h.wall:
		b[3] = versionWall
	default:
		b[3] = versionMonotonic
	}
	binary.BigEndian.PutUint64(b[4:], h.run)
	binary.BigEndian.PutUint32(b[12:], h.producer)
	binary.BigEndian.PutUint64(b[16:], h.seq)
	binary.BigEndian.PutUint64(b[24:], uint64(h.intended))
}

var errForeign = errors.New("not a bench payload")

func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderLen || [3]byte(b[:3]) != magic {
		return header{}, errForeign
	}
	var h header
	switch b[3] {
	case versionMonotonic:
	case versionWall:
		h.wall = true
	case versionWallWarm:
		h.wall, h.warm = true, true
	default:
		return header{}, errForeign
	}
	h.run = binary.BigEndian.Uint64(b[4:])
	h.producer = binary.BigEndian.Uint32(b[12:])
	h.seq = binary.BigEndian.Uint64(b[16:])
	h.intended = int64(binary.BigEndian.Uint64(b[24:]))
	return h, nil
}
