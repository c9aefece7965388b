package bench

import (
	"encoding/binary"
	"errors"
)

// HeaderLen is the size of the header at the start of every bench payload:
// magic "MQB\x01" (4), run id (8), producer id (4), sequence (8), intended
// send time in ns since the run's start (8), big-endian.
const HeaderLen = 32

var magic = [4]byte{'M', 'Q', 'B', 1}

// header is what a payload says about itself.
type header struct {
	run      uint64
	producer uint32
	seq      uint64
	intended int64
}

func putHeader(b []byte, h header) {
	copy(b, magic[:])
	binary.BigEndian.PutUint64(b[4:], h.run)
	binary.BigEndian.PutUint32(b[12:], h.producer)
	binary.BigEndian.PutUint64(b[16:], h.seq)
	binary.BigEndian.PutUint64(b[24:], uint64(h.intended))
}

var errForeign = errors.New("not a bench payload")

func parseHeader(b []byte) (header, error) {
	if len(b) < HeaderLen || [4]byte(b[:4]) != magic {
		return header{}, errForeign
	}
	return header{
		run:      binary.BigEndian.Uint64(b[4:]),
		producer: binary.BigEndian.Uint32(b[12:]),
		seq:      binary.BigEndian.Uint64(b[16:]),
		intended: int64(binary.BigEndian.Uint64(b[24:])),
	}, nil
}
