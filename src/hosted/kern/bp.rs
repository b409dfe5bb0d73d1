//! Field access to buffers, bios and vnodes through raw pointers.
//!
//! The C structures are shared with C code running on other threads, so
//! fields are read and written through the raw pointer (volatile), never
//! through Rust references. A [`Bp`] is only made for a buffer header
//! allocated by this machine (`bufcache::check` verifies that); headers stay
//! allocated until the machine shuts down.

use std::prelude::rust_2021::*;

use core::ffi::c_void;
use core::ptr::{self, addr_of, addr_of_mut};

use crate::sys::ffi;

pub(crate) const CMD_DONE: u32 = ffi::BUF_CMD_DONE;
pub(crate) const CMD_READ: u32 = ffi::BUF_CMD_READ;
pub(crate) const CMD_WRITE: u32 = ffi::BUF_CMD_WRITE;
pub(crate) const CMD_FREEBLKS: u32 = ffi::BUF_CMD_FREEBLKS;
pub(crate) const CMD_FLUSH: u32 = ffi::BUF_CMD_FLUSH;

/// A buffer header of this machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Bp(pub *mut ffi::buf);

// SAFETY: a Bp is an address; all access goes through volatile raw-pointer
// operations and the buffer-lock protocol decides who may write.
unsafe impl Send for Bp {}
// SAFETY: see above.
unsafe impl Sync for Bp {}

macro_rules! bfield {
    ($get:ident, $set:ident, $field:ident, $t:ty) => {
        #[allow(dead_code)]
        pub(crate) fn $get(self) -> $t {
            // SAFETY: Bp invariant (a live header of this machine).
            unsafe { addr_of!((*self.0).$field).read_volatile() }
        }
        #[allow(dead_code)]
        pub(crate) fn $set(self, v: $t) {
            // SAFETY: Bp invariant (a live header of this machine).
            unsafe { addr_of_mut!((*self.0).$field).write_volatile(v) }
        }
    };
}

impl Bp {
    bfield!(flags, set_flags, b_flags, u32);
    bfield!(qindex_c, set_qindex_c, b_qindex, u32);
    bfield!(act_count, set_act_count, b_act_count, u8);
    bfield!(bufsize, set_bufsize, b_bufsize, i32);
    bfield!(bcount, set_bcount, b_bcount, i32);
    bfield!(resid, set_resid, b_resid, i32);
    bfield!(error, set_error, b_error, i32);
    bfield!(runningbufspace, set_runningbufspace, b_runningbufspace, i32);
    bfield!(data, set_data, b_data, *mut core::ffi::c_char);
    bfield!(kvabase, set_kvabase, b_kvabase, *mut core::ffi::c_char);
    bfield!(kvasize, set_kvasize, b_kvasize, i32);
    bfield!(dirtyoff, set_dirtyoff, b_dirtyoff, i32);
    bfield!(dirtyend, set_dirtyend, b_dirtyend, i32);
    bfield!(refs, set_refs, b_refs, i32);
    bfield!(ops, set_ops, b_ops, *mut ffi::bio_ops);
    bfield!(vp, set_vp, b_vp, *mut ffi::vnode);
    bfield!(
        cluster_next,
        set_cluster_next,
        b_cluster_next,
        *mut ffi::buf
    );
    bfield!(hosted, set_hosted, b_hosted, *mut c_void);

    pub(crate) fn cmd(self) -> u32 {
        // SAFETY: Bp invariant.
        unsafe { addr_of!((*self.0).b_cmd).read_volatile() }
    }
    pub(crate) fn set_cmd(self, c: u32) {
        // SAFETY: Bp invariant.
        unsafe { addr_of_mut!((*self.0).b_cmd).write_volatile(c) }
    }
    pub(crate) fn or(self, f: u32) {
        self.set_flags(self.flags() | f);
    }
    pub(crate) fn clear(self, f: u32) {
        self.set_flags(self.flags() & !f);
    }
    pub(crate) fn has(self, f: u32) -> bool {
        self.flags() & f != 0
    }
    /// b_bio_array[n].
    pub(crate) fn bio(self, n: usize) -> BioP {
        // SAFETY: Bp invariant; n < NBUF_BIO is checked by the index.
        BioP(unsafe { addr_of_mut!((*self.0).b_bio_array[n]) })
    }
    pub(crate) fn bio1(self) -> BioP {
        self.bio(0)
    }
    pub(crate) fn bio2(self) -> BioP {
        self.bio(1)
    }
    pub(crate) fn loffset(self) -> i64 {
        self.bio1().offset()
    }
    pub(crate) fn set_loffset(self, o: i64) {
        self.bio1().set_offset(o)
    }
    /// LIST_FIRST(&bp->b_dep).
    pub(crate) fn dep_first(self) -> *mut ffi::worklist {
        // SAFETY: Bp invariant.
        unsafe { addr_of!((*self.0).b_dep.lh_first).read_volatile() }
    }
    pub(crate) fn has_deps(self) -> bool {
        !self.dep_first().is_null()
    }
    /// buf_dep_init().
    pub(crate) fn dep_init(self) {
        self.set_ops(ptr::null_mut());
        // SAFETY: Bp invariant.
        unsafe { addr_of_mut!((*self.0).b_dep.lh_first).write_volatile(ptr::null_mut()) }
    }
    pub(crate) fn lock_ptr(self) -> *mut ffi::lock {
        // SAFETY: Bp invariant; only the address is taken.
        unsafe { addr_of_mut!((*self.0).b_lock) }
    }
    /// Mirror the lock state into the C `struct lock`.
    pub(crate) fn mirror_lock(self, count: i32, holder: *mut ffi::thread) {
        let l = self.lock_ptr();
        // SAFETY: Bp invariant; b_lock is part of the header.
        unsafe {
            addr_of_mut!((*l).lk_count).write_volatile(count);
            addr_of_mut!((*l).lk_lockholder).write_volatile(holder);
        }
    }
    /// Index of `bio` in b_bio_array, if it is one of this buffer's.
    pub(crate) fn bio_index(self, bio: *mut ffi::bio) -> Option<usize> {
        let base = self.bio(0).0 as usize;
        let a = bio as usize;
        let sz = core::mem::size_of::<ffi::bio>();
        if a < base || !(a - base).is_multiple_of(sz) || (a - base) / sz >= ffi::NBUF_BIO {
            return None;
        }
        Some((a - base) / sz)
    }
}

/// A bio embedded in a buffer of this machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct BioP(pub *mut ffi::bio);

// SAFETY: an address, accessed like Bp.
unsafe impl Send for BioP {}
// SAFETY: see above.
unsafe impl Sync for BioP {}

macro_rules! biofield {
    ($get:ident, $set:ident, $field:ident, $t:ty) => {
        #[allow(dead_code)]
        pub(crate) fn $get(self) -> $t {
            // SAFETY: BioP points into a live buffer header.
            unsafe { addr_of!((*self.0).$field).read_volatile() }
        }
        #[allow(dead_code)]
        pub(crate) fn $set(self, v: $t) {
            // SAFETY: BioP points into a live buffer header.
            unsafe { addr_of_mut!((*self.0).$field).write_volatile(v) }
        }
    };
}

impl BioP {
    biofield!(offset, set_offset, bio_offset, i64);
    biofield!(prev, set_prev, bio_prev, *mut ffi::bio);
    biofield!(next, set_next, bio_next, *mut ffi::bio);
    biofield!(buf, set_buf, bio_buf, *mut ffi::buf);
    biofield!(done, set_done, bio_done, ffi::biodone_t);
    biofield!(track, set_track, bio_track, *mut ffi::bio_track);

    /// bio_flags as an atomic (completion and waiter race on it).
    pub(crate) fn flags_atomic(self) -> &'static core::sync::atomic::AtomicI32 {
        // SAFETY: bio_flags is a properly aligned int inside a header that
        // lives until shutdown; every concurrent Rust access is atomic.
        unsafe { core::sync::atomic::AtomicI32::from_ptr(addr_of_mut!((*self.0).bio_flags)) }
    }
    pub(crate) fn flags(self) -> i32 {
        self.flags_atomic()
            .load(core::sync::atomic::Ordering::SeqCst)
    }
    pub(crate) fn or_flags(self, f: i32) {
        self.flags_atomic()
            .fetch_or(f, core::sync::atomic::Ordering::SeqCst);
    }
    pub(crate) fn clear_flags(self, f: i32) {
        self.flags_atomic()
            .fetch_and(!f, core::sync::atomic::Ordering::SeqCst);
    }
    pub(crate) fn set_caller1_ptr(self, p: *mut c_void) {
        // SAFETY: writing a union member of a live bio.
        unsafe { addr_of_mut!((*self.0).bio_caller_info1.ptr).write_volatile(p) }
    }
    pub(crate) fn cluster_head(self) -> *mut ffi::buf {
        // SAFETY: as caller1_ptr.
        unsafe { addr_of!((*self.0).bio_caller_info1.cluster_head).read_volatile() }
    }
    pub(crate) fn set_cluster_head(self, p: *mut ffi::buf) {
        // SAFETY: as set_caller1_ptr.
        unsafe { addr_of_mut!((*self.0).bio_caller_info1.cluster_head).write_volatile(p) }
    }
    pub(crate) fn cluster_tail(self) -> *mut ffi::buf {
        // SAFETY: as caller1_ptr.
        unsafe { addr_of!((*self.0).bio_caller_info2.cluster_tail).read_volatile() }
    }
    pub(crate) fn set_cluster_tail(self, p: *mut ffi::buf) {
        // SAFETY: as set_caller1_ptr.
        unsafe { addr_of_mut!((*self.0).bio_caller_info2.cluster_tail).write_volatile(p) }
    }
}

/// A vnode of this machine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Vp(pub *mut ffi::vnode);

// SAFETY: an address; vnodes live until the machine frees them.
unsafe impl Send for Vp {}
// SAFETY: see above.
unsafe impl Sync for Vp {}

impl Vp {
    pub(crate) fn hosted(self) -> usize {
        // SAFETY: Vp points to a live vnode.
        unsafe { addr_of!((*self.0).v_hosted).read_volatile() as usize }
    }
    pub(crate) fn token_addr(self) -> usize {
        // SAFETY: only the address of the embedded token is taken.
        unsafe { addr_of_mut!((*self.0).v_token) as usize }
    }
    pub(crate) fn refcnt(self) -> i32 {
        // SAFETY: Vp points to a live vnode.
        unsafe { addr_of!((*self.0).v_refcnt).read_volatile() }
    }
    pub(crate) fn set_refcnt(self, v: i32) {
        // SAFETY: Vp points to a live vnode.
        unsafe { addr_of_mut!((*self.0).v_refcnt).write_volatile(v) }
    }
    pub(crate) fn auxrefs(self) -> i32 {
        // SAFETY: Vp points to a live vnode.
        unsafe { addr_of!((*self.0).v_auxrefs).read_volatile() }
    }
    pub(crate) fn set_auxrefs(self, v: i32) {
        // SAFETY: Vp points to a live vnode.
        unsafe { addr_of_mut!((*self.0).v_auxrefs).write_volatile(v) }
    }
}
