package treegen

import "encoding/binary"

// A POSIX ACL as Linux stores it in system.posix_acl_access and system.posix_acl_default: a
// version word, then (tag, permissions, id) entries sorted by tag and id. Writing the raw value
// with setxattr is what setfacl does underneath, without needing setfacl.
const (
	aclVersion = 2

	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20

	aclNoID = 0xffffffff // the id of the entries that name no one
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// encodeACL returns the xattr value for entries, which must be in kernel order (by tag,
// then id).
func encodeACL(entries ...aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, aclVersion)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// The ACLs of the fidelity tree: named users and groups, with a mask.
var (
	fileACL = encodeACL(
		aclEntry{aclUserObj, 6, aclNoID},
		aclEntry{aclUser, 4, 12345},
		aclEntry{aclGroupObj, 4, aclNoID},
		aclEntry{aclGroup, 6, 54321},
		aclEntry{aclMask, 6, aclNoID},
		aclEntry{aclOther, 4, aclNoID},
	)
	dirACL = encodeACL(
		aclEntry{aclUserObj, 7, aclNoID},
		aclEntry{aclUser, 7, 12345},
		aclEntry{aclGroupObj, 5, aclNoID},
		aclEntry{aclMask, 7, aclNoID},
		aclEntry{aclOther, 5, aclNoID},
	)
	defaultACL = encodeACL(
		aclEntry{aclUserObj, 7, aclNoID},
		aclEntry{aclUser, 7, 12345},
		aclEntry{aclGroupObj, 5, aclNoID},
		aclEntry{aclGroup, 5, 54321},
		aclEntry{aclMask, 7, aclNoID},
		aclEntry{aclOther, 0, aclNoID},
	)
)
