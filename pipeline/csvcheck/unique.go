package csvcheck

import (
	"encoding/binary"
	"hash/maphash"
	"sort"
)

// uniqueSet remembers the values of one unique column in bounded memory.
//
// Values are kept as 16-byte hashes (two 64-bit maphash sums with random
// per-set seeds: a false duplicate needs a 128-bit collision, which no input
// can be crafted to cause) in an open-addressing table of its own: 16 bytes
// a slot, 20 to 40 bytes a value as the table fills up and doubles (Go's map
// takes about 56). Integer columns compare values as numbers ("007" repeats
// "7") and keep ascending keys, the common case of ids, as runs: 1, 2, 3 …
// 1,000,000 is one run of 16 bytes. Only integers that arrive out of order
// are hashed. At most max entries (runs and hashes together) are held;
// beyond that add reports full.
//
// The runs stay correct because a run is only ever started or extended
// above every value seen so far: an out-of-order value is below the last
// run's end, so either inside a run (a duplicate) or in a gap, hashed.
type uniqueSet struct {
	max   int
	seeds [2]maphash.Seed
	table hashTable
	runs  []span // ascending, disjoint
}

type span struct{ lo, hi int64 }

func newUniqueSet(max int) *uniqueSet {
	return &uniqueSet{max: max, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

func (u *uniqueSet) len() int { return u.table.n + len(u.runs) }

// hash is the 16-byte hash of a value.
func (u *uniqueSet) hash(b []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(u.seeds[0], b), maphash.Bytes(u.seeds[1], b)}
}

func (u *uniqueSet) hashInt(v int64) [2]uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	return u.hash(b[:])
}

// add adds the hash h. It reports whether h was already there, and full
// when h is new but the set holds max entries.
func (u *uniqueSet) add(h [2]uint64) (dup, full bool) {
	if u.table.has(h) {
		return true, false
	}
	if u.len() >= u.max {
		return false, true
	}
	u.table.insert(h)
	return false, false
}

// hasBytes reports whether the text value b was added.
func (u *uniqueSet) hasBytes(b []byte) bool { return u.table.has(u.hash(b)) }

// addBytes adds the text value b, reporting as add does.
func (u *uniqueSet) addBytes(b []byte) (dup, full bool) { return u.add(u.hash(b)) }

// hasInt reports whether the integer v was added.
func (u *uniqueSet) hasInt(v int64) bool {
	n := len(u.runs)
	if n == 0 || v > u.runs[n-1].hi {
		return false
	}
	i := sort.Search(n, func(i int) bool { return u.runs[i].hi >= v })
	return u.runs[i].lo <= v || u.table.has(u.hashInt(v))
}

// addInt adds the integer v, reporting as add does.
func (u *uniqueSet) addInt(v int64) (dup, full bool) {
	n := len(u.runs)
	switch {
	case n > 0 && v > u.runs[n-1].hi && v == u.runs[n-1].hi+1:
		u.runs[n-1].hi = v
		return false, false
	case n == 0 || v > u.runs[n-1].hi:
		if u.len() >= u.max {
			return false, true
		}
		u.runs = append(u.runs, span{v, v})
		return false, false
	}
	i := sort.Search(n, func(i int) bool { return u.runs[i].hi >= v })
	if u.runs[i].lo <= v {
		return true, false
	}
	return u.add(u.hashInt(v))
}

// hashTable is a set of 16-byte hashes: open addressing, linear probing,
// at most 80 % full. The zero hash marks an empty slot, so a zero hash is
// stored as {0, 1}: one more collision among 2^128 values.
type hashTable struct {
	slots [][2]uint64
	n     int
}

func (t *hashTable) has(h [2]uint64) bool {
	if t.n == 0 {
		return false
	}
	if h == [2]uint64{} {
		h[1] = 1
	}
	mask := uint64(len(t.slots) - 1)
	for i := h[0] & mask; ; i = (i + 1) & mask {
		switch t.slots[i] {
		case h:
			return true
		case [2]uint64{}:
			return false
		}
	}
}

// insert adds h, which the table does not hold.
func (t *hashTable) insert(h [2]uint64) {
	if (t.n+1)*5 > len(t.slots)*4 {
		t.grow()
	}
	if h == [2]uint64{} {
		h[1] = 1
	}
	mask := uint64(len(t.slots) - 1)
	i := h[0] & mask
	for t.slots[i] != [2]uint64{} {
		i = (i + 1) & mask
	}
	t.slots[i] = h
	t.n++
}

func (t *hashTable) grow() {
	old := t.slots
	t.slots = make([][2]uint64, max(1024, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, h := range old {
		if h == [2]uint64{} {
			continue
		}
		i := h[0] & mask
		for t.slots[i] != [2]uint64{} {
			i = (i + 1) & mask
		}
		t.slots[i] = h
	}
}
