package engine

import (
	"fmt"

	"github.com/ferrydvm/ferry/internal/scan"
	"github.com/ferrydvm/ferry/internal/wire"
)

// ProtocolVersion is the transfer protocol's version; peers with another refuse each other.
const ProtocolVersion = 1

// Frame types of the transfer protocol. S is the sender, R the receiver.
const (
	tHello     wire.Type = iota + 1 // S->R: volume, options
	tWelcome                        // R->S: accepted
	tError                          // either way: fatal, then close
	tEntries                        // S->R: a batch of entries, numbered from First
	tNeed                           // R->S: files whose data is needed, and how
	tAck                            // R->S: every entry up to an index has been decided
	tData                           // S->R: file data pieces, small files several per frame
	tDelta                          // S->R: delta ops of one file against the receiver's copy
	tFileDone                       // R->S: files completed and verified
	tFileError                      // either way: one file failed (not fatal to the run)
	tEnd                            // S->R: no more entries
	tSummary                        // R->S: the run's result, then close
)

// Limits on what a peer may send.
const (
	maxPath      = 4096
	maxName      = 255
	maxXattrs    = 1024
	maxXattrSize = 64 << 10
	maxBatch     = 1 << 16
)

// Options are the sender's choices, sent in Hello.
type Options struct {
	Delete   bool // remove what the source no longer has
	Checksum bool // compare content, not size and mtime
	Security bool // carry security.* xattrs
	NoOwner  bool // do not set owner and group (root-squashed NFS)
	NoXattrs bool // do not set xattrs and ACLs
	Compress bool // the sender's frames travel zstd-compressed
}

// Roles of a connection in a session.
const (
	roleControl = 0 // entries, requests and results; the session's first connection
	roleData    = 1 // file data only, joined to a session by its id
	roleMeasure = 2 // a probe's throughput sample: bytes to count and discard
)

type hello struct {
	Proto   uint64
	Version string
	Volume  string
	Subdir  string
	Options Options
	Session []byte // random id shared by the connections of one session
	Role    uint8
}

func (m *hello) encode(e *wire.Enc) {
	e.Uvarint(m.Proto)
	e.String(m.Version)
	e.String(m.Volume)
	e.String(m.Subdir)
	o := m.Options
	for _, b := range []bool{o.Delete, o.Checksum, o.Security, o.NoOwner, o.NoXattrs, o.Compress} {
		e.Bool(b)
	}
	e.Bytes(m.Session)
	e.U8(m.Role)
}

func (m *hello) decode(d *wire.Dec) {
	m.Proto = d.Uvarint()
	m.Version = d.String(128)
	m.Volume = d.String(maxName)
	m.Subdir = d.String(maxPath)
	o := &m.Options
	for _, b := range []*bool{&o.Delete, &o.Checksum, &o.Security, &o.NoOwner, &o.NoXattrs, &o.Compress} {
		*b = d.Bool()
	}
	m.Session = append([]byte(nil), d.Bytes(32)...)
	m.Role = d.U8()
	if m.Role > roleMeasure {
		d.Fail(fmt.Sprintf("connection role %d", m.Role))
	}
}

type welcome struct {
	Proto   uint64
	Version string
}

func (m *welcome) encode(e *wire.Enc) { e.Uvarint(m.Proto); e.String(m.Version) }
func (m *welcome) decode(d *wire.Dec) { m.Proto = d.Uvarint(); m.Version = d.String(128) }

// msgError is a fatal error or a per-file one (Index set).
type msgError struct {
	Index   uint64
	Message string
}

func (m *msgError) encode(e *wire.Enc) { e.Uvarint(m.Index); e.String(m.Message) }
func (m *msgError) decode(d *wire.Dec) { m.Index = d.Uvarint(); m.Message = d.String(4096) }

// entry is a scan.Entry on the wire, with the digest of its content when Checksum is on.
type entry struct {
	scan.Entry
	Digest []byte
}

func encodeEntry(e *wire.Enc, x *entry) {
	e.String(x.Path)
	e.U8(uint8(x.Kind))
	e.Uvarint(uint64(x.Mode))
	e.Uvarint(uint64(x.UID))
	e.Uvarint(uint64(x.GID))
	e.Varint(x.Size)
	e.Varint(x.Mtime)
	e.String(x.Link)
	e.Uvarint(x.Rdev)
	e.String(x.HardLink)
	e.Uvarint(uint64(x.Nlink))
	e.Bool(x.Sparse)
	e.Uvarint(uint64(len(x.Xattrs)))
	for _, xa := range x.Xattrs {
		e.String(xa.Name)
		e.Bytes(xa.Value)
	}
	e.Bytes(x.Digest)
}

func decodeEntry(d *wire.Dec, x *entry) {
	x.Path = d.String(maxPath)
	x.Kind = scan.Kind(d.U8())
	x.Mode = uint32(d.Uint(0o7777, "mode"))
	x.UID = uint32(d.Uint(1<<32-1, "uid"))
	x.GID = uint32(d.Uint(1<<32-1, "gid"))
	x.Size = d.Varint()
	x.Mtime = d.Varint()
	x.Link = d.String(maxPath)
	x.Rdev = d.Uvarint()
	x.HardLink = d.String(maxPath)
	x.Nlink = uint32(d.Uint(1<<32-1, "link count"))
	x.Sparse = d.Bool()
	n := d.Uint(maxXattrs, "xattr count")
	x.Xattrs = nil
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		x.Xattrs = append(x.Xattrs, scan.Xattr{Name: d.String(maxName), Value: append([]byte(nil), d.Bytes(maxXattrSize)...)})
	}
	x.Digest = append([]byte(nil), d.Bytes(64)...)
	if x.Kind < scan.KindFile || x.Kind > scan.KindSocket || x.Size < 0 {
		d.Fail(fmt.Sprintf("entry kind %d, size %d", x.Kind, x.Size))
	}
}

// How a needed file is to be sent.
const (
	needWhole  = 1 // all of it
	needDelta  = 2 // a delta against the receiver's current copy, whose signature follows
	needResume = 3 // from Offset on: the receiver holds a verified prefix of that length
)

type need struct {
	Index     uint64
	How       uint8
	Offset    int64  // needResume: length of the prefix the receiver has
	Prefix    []byte // needResume: digest of that prefix
	Signature []byte // needDelta: encoded delta.Signature
}

func encodeNeed(e *wire.Enc, n *need) {
	e.Uvarint(n.Index)
	e.U8(n.How)
	e.Varint(n.Offset)
	e.Bytes(n.Prefix)
	e.Bytes(n.Signature)
}

func decodeNeed(d *wire.Dec, n *need) {
	n.Index = d.Uvarint()
	n.How = d.U8()
	n.Offset = d.Varint()
	n.Prefix = append([]byte(nil), d.Bytes(64)...)
	n.Signature = append([]byte(nil), d.Bytes(wire.MaxPayload)...)
	if n.How < needWhole || n.How > needResume || n.Offset < 0 {
		d.Fail(fmt.Sprintf("need %d at offset %d", n.How, n.Offset))
	}
}

// piece is a run of file data at Offset; Final marks the last piece, which carries the
// digest of the whole content.
type piece struct {
	Index  uint64
	Offset int64
	Data   []byte
	Final  bool
	Digest []byte
}

func encodePiece(e *wire.Enc, p *piece) {
	e.Uvarint(p.Index)
	e.Varint(p.Offset)
	e.Bytes(p.Data)
	e.Bool(p.Final)
	if p.Final {
		e.Bytes(p.Digest)
	}
}

func decodePiece(d *wire.Dec, p *piece) {
	p.Index = d.Uvarint()
	p.Offset = d.Varint()
	p.Data = d.Bytes(wire.MaxPayload)
	p.Final = d.Bool()
	p.Digest = nil
	if p.Final {
		p.Digest = d.Bytes(64)
	}
	if p.Offset < 0 {
		d.Fail("negative offset")
	}
}

type summary struct {
	Entries     uint64
	Transferred uint64 // files whose data was sent
	Bytes       uint64 // file bytes written (logical)
	Verified    uint64 // files whose digest was checked
	Deleted     uint64
	Errors      uint64
	Notices     []string // what the target could not hold, and similar
}

func (m *summary) encode(e *wire.Enc) {
	for _, v := range []uint64{m.Entries, m.Transferred, m.Bytes, m.Verified, m.Deleted, m.Errors} {
		e.Uvarint(v)
	}
	e.Uvarint(uint64(len(m.Notices)))
	for _, n := range m.Notices {
		e.String(n)
	}
}

func (m *summary) decode(d *wire.Dec) {
	for _, v := range []*uint64{&m.Entries, &m.Transferred, &m.Bytes, &m.Verified, &m.Deleted, &m.Errors} {
		*v = d.Uvarint()
	}
	n := d.Uint(1000, "notice count")
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		m.Notices = append(m.Notices, d.String(4096))
	}
}

// decodeList reads a count and calls each for every item.
func decodeList(d *wire.Dec, limit uint64, each func(d *wire.Dec)) {
	n := d.Uint(limit, "list length")
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		each(d)
	}
}

func malformed(t wire.Type, err error) error {
	return fmt.Errorf("message %d from peer: %w", t, err)
}
