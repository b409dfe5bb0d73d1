//! Flag words of the buffer cache as typed bit sets.
//!
//! The values come straight from the bindings, so they are whatever the
//! headers in use (hosted or real kernel) say.

use bitflags::bitflags;

use super::ffi;

bitflags! {
    /// `bp->b_flags` (`B_*` of `<sys/buf.h>`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct BufFlags: u32 {
        const B_AGE = ffi::B_AGE;
        const B_NEEDCOMMIT = ffi::B_NEEDCOMMIT;
        const B_NOTMETA = ffi::B_NOTMETA;
        const B_DIRECT = ffi::B_DIRECT;
        const B_DEFERRED = ffi::B_DEFERRED;
        const B_CACHE = ffi::B_CACHE;
        const B_HASHED = ffi::B_HASHED;
        const B_DELWRI = ffi::B_DELWRI;
        const B_BNOCLIP = ffi::B_BNOCLIP;
        const B_HASBOGUS = ffi::B_HASBOGUS;
        const B_EINTR = ffi::B_EINTR;
        const B_ERROR = ffi::B_ERROR;
        const B_IODEBUG = ffi::B_IODEBUG;
        const B_INVAL = ffi::B_INVAL;
        const B_LOCKED = ffi::B_LOCKED;
        const B_NOCACHE = ffi::B_NOCACHE;
        const B_MALLOC = ffi::B_MALLOC;
        const B_CLUSTEROK = ffi::B_CLUSTEROK;
        const B_MARKER = ffi::B_MARKER;
        const B_RAW = ffi::B_RAW;
        const B_HEAVY = ffi::B_HEAVY;
        const B_DIRTY = ffi::B_DIRTY;
        const B_RELBUF = ffi::B_RELBUF;
        const B_VNCLEAN = ffi::B_VNCLEAN;
        const B_VNDIRTY = ffi::B_VNDIRTY;
        const B_PAGING = ffi::B_PAGING;
        const B_ORDERED = ffi::B_ORDERED;
        const B_RAM = ffi::B_RAM;
        const B_VMIO = ffi::B_VMIO;
        const B_CLUSTER = ffi::B_CLUSTER;
        const B_VFSFLAG1 = ffi::B_VFSFLAG1;
        // Bits the headers leave unnamed still survive a round trip.
        const _ = !0;
    }
}

bitflags! {
    /// `bio->bio_flags` (`BIO_*` of `<sys/bio.h>`). The field is an `int`;
    /// the set works on its bit pattern.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct BioFlags: u32 {
        const BIO_SYNC = ffi::BIO_SYNC as u32;
        const BIO_WANT = ffi::BIO_WANT as u32;
        const BIO_DONE = ffi::BIO_DONE as u32;
        const _ = !0;
    }
}

bitflags! {
    /// The `flags` argument of `tsleep()` / `tsleep_interlock()`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct SleepFlags: i32 {
        const PINTERLOCKED = ffi::PINTERLOCKED;
        const _ = !0;
    }
}

/// `bp->b_cmd`, the I/O command of a buffer (`enum buf_cmd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufCmd(pub ffi::buf_cmd_t);

impl BufCmd {
    pub const BUF_CMD_DONE: Self = Self(ffi::BUF_CMD_DONE);
    pub const BUF_CMD_READ: Self = Self(ffi::BUF_CMD_READ);
    pub const BUF_CMD_WRITE: Self = Self(ffi::BUF_CMD_WRITE);
    pub const BUF_CMD_FREEBLKS: Self = Self(ffi::BUF_CMD_FREEBLKS);
    pub const BUF_CMD_FORMAT: Self = Self(ffi::BUF_CMD_FORMAT);
    pub const BUF_CMD_FLUSH: Self = Self(ffi::BUF_CMD_FLUSH);
}
