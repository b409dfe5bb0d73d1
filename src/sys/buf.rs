//! Buffer-cache buffers (`struct buf`), vnodes, and the buffer-cache calls
//! HAMMER makes, including Rust versions of the `<sys/buf2.h>` inlines.

use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use super::bio::Bio;
use super::bioops::BioOpsRef;
use super::ffi;
use super::flags::{BufCmd, BufFlags};
use super::hammer::{DataPtr, Io};
use super::kern;

/// A vnode pointer that is passed through to the kernel, never
/// dereferenced here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vnode(*mut ffi::vnode);

impl Vnode {
    /// # Safety
    ///
    /// `vp` is a vnode pointer the kernel accepts for the calls it will be
    /// passed to (normally a referenced, live vnode).
    pub unsafe fn from_raw(vp: *mut ffi::vnode) -> Self {
        Self(vp)
    }

    pub fn as_ptr(self) -> *mut ffi::vnode {
        self.0
    }
}

/// `vput(vp)`: unlock and release a vnode obtained from e.g.
/// `hammer_get_vnode()`.
pub fn vput(vp: Vnode) {
    // SAFETY: `Vnode` carries a vnode the kernel handed out.
    unsafe { ffi::vput(vp.0) }
}

/// A handle to a buffer-cache buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buf(NonNull<ffi::buf>);

impl Buf {
    /// # Safety
    ///
    /// `bp` is NULL or points to a buffer that stays valid while the handle
    /// is used, accessed under the buffer-cache rules (buffer lock or the
    /// HAMMER io structure that owns it).
    pub unsafe fn from_raw(bp: *mut ffi::buf) -> Option<Self> {
        NonNull::new(bp).map(Self)
    }

    /// Like [`Buf::from_raw`] for pointers the kernel guarantees non-NULL;
    /// a NULL panics the kernel.
    ///
    /// # Safety
    ///
    /// As [`Buf::from_raw`].
    pub unsafe fn from_raw_nonnull(bp: *mut ffi::buf) -> Self {
        match NonNull::new(bp) {
            Some(p) => Self(p),
            None => kern::null_handle(crate::cstr!("struct buf")),
        }
    }

    pub fn as_ptr(self) -> *mut ffi::buf {
        self.0.as_ptr()
    }

    fn p(self) -> *mut ffi::buf {
        self.0.as_ptr()
    }

    /// `bp->b_flags`.
    pub fn flags(self) -> BufFlags {
        // SAFETY: `Buf` points to a live buffer.
        BufFlags::from_bits_retain(unsafe { (*self.p()).b_flags })
    }

    /// Whether any of `f` is set in `bp->b_flags`.
    pub fn has(self, f: BufFlags) -> bool {
        self.flags().intersects(f)
    }

    /// `bp->b_flags |= f`.
    pub fn set(self, f: BufFlags) {
        // SAFETY: `Buf` points to a live buffer; a plain read-modify-write
        // like the C statement.
        unsafe { (*self.p()).b_flags |= f.bits() }
    }

    /// `bp->b_flags &= ~f`.
    pub fn clear(self, f: BufFlags) {
        // SAFETY: as for `set`.
        unsafe { (*self.p()).b_flags &= !f.bits() }
    }

    /// `bp->b_error`.
    pub fn error(self) -> c_int {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_error }
    }

    pub fn set_error(self, error: c_int) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_error = error }
    }

    /// `bp->b_bufsize`.
    pub fn bufsize(self) -> c_int {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_bufsize }
    }

    pub fn set_bufsize(self, n: c_int) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_bufsize = n }
    }

    /// `bp->b_bcount = n`.
    pub fn set_bcount(self, n: c_int) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_bcount = n }
    }

    /// `bp->b_resid = n`.
    pub fn set_resid(self, n: c_int) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_resid = n }
    }

    /// `bp->b_cmd`.
    pub fn cmd(self) -> BufCmd {
        // SAFETY: live buffer.
        BufCmd(unsafe { (*self.p()).b_cmd })
    }

    pub fn set_cmd(self, cmd: BufCmd) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_cmd = cmd.0 }
    }

    /// `&bp->b_bio1`, the logical (vnode) layer.
    pub fn bio1(self) -> Bio {
        // SAFETY: live buffer; the bio array is embedded in it.
        unsafe { Bio::from_raw_nonnull(ptr::addr_of_mut!((*self.p()).b_bio_array[0])) }
    }

    /// `&bp->b_bio2`, the first translated layer.
    pub fn bio2(self) -> Bio {
        // SAFETY: live buffer; the bio array is embedded in it.
        unsafe { Bio::from_raw_nonnull(ptr::addr_of_mut!((*self.p()).b_bio_array[1])) }
    }

    /// `bp->b_ops = ops`.
    pub fn set_ops(self, ops: BioOpsRef) {
        // SAFETY: live buffer; `BioOpsRef` is a table with static lifetime.
        unsafe { (*self.p()).b_ops = ops.as_ptr() }
    }

    /// `LIST_FIRST(&bp->b_dep)` as a raw address, for identity checks.
    pub fn dep_first(self) -> *mut ffi::worklist {
        // SAFETY: live buffer.
        unsafe { (*self.p()).b_dep.lh_first }
    }

    /// `LIST_FIRST(&bp->b_dep) == NULL`.
    pub fn dep_is_empty(self) -> bool {
        self.dep_first().is_null()
    }

    /// Whether `io` is the first dependency of the buffer (HAMMER keeps at
    /// most one: its own io).
    pub fn dep_first_is(self, io: Io) -> bool {
        self.dep_first() == io.worklist_ptr()
    }

    /// The `hammer_io` hanging off `b_dep`, or `None` if the list is empty.
    /// HAMMER only ever attaches a `hammer_io`, whose first member is the
    /// worklist entry, so the first entry is the io itself.
    pub fn dep_io(self) -> Option<Io> {
        // SAFETY: an entry on b_dep of a HAMMER-owned buffer is the
        // `worklist` at offset 0 of a live `hammer_io` (see `dep_insert`).
        unsafe { Io::from_raw(self.dep_first().cast::<ffi::hammer_io>()) }
    }

    /// `LIST_INSERT_HEAD(&bp->b_dep, &io->worklist, node)`.
    pub fn dep_insert_head(self, io: Io) {
        let elm = io.worklist_ptr();
        // SAFETY: live buffer and io; the list links are plain pointers
        // updated under the buffer lock, as the C macro does.
        unsafe {
            let head = ptr::addr_of_mut!((*self.p()).b_dep);
            let first = (*head).lh_first;
            if !first.is_null() && (*first).node.le_prev != ptr::addr_of_mut!((*head).lh_first) {
                kern::bad_list_link(crate::cstr!("b_dep head"), head.cast::<c_void>());
            }
            (*elm).node.le_next = first;
            if !first.is_null() {
                (*first).node.le_prev = ptr::addr_of_mut!((*elm).node.le_next);
            }
            (*head).lh_first = elm;
            (*elm).node.le_prev = ptr::addr_of_mut!((*head).lh_first);
        }
    }

    /// `buf_dep_init(bp)`: no callbacks, no dependencies.
    pub fn buf_dep_init(self) {
        // SAFETY: live buffer.
        unsafe {
            (*self.p()).b_ops = ptr::null_mut();
            (*self.p()).b_dep.lh_first = ptr::null_mut();
        }
    }

    /// `BUF_KERNPROC(bp)`: hand the buffer lock to the kernel so that
    /// whichever thread finishes with the buffer may release it.
    pub fn buf_kernproc(self) {
        // SAFETY: live buffer; its lock is embedded in it.
        unsafe { ffi::lockmgr_kernproc(ptr::addr_of_mut!((*self.p()).b_lock)) }
    }

    /// `buf_act_advance(bp)`: bump the LRU activity count, saturating at
    /// `ACT_MAX`.
    pub fn buf_act_advance(self) {
        // SAFETY: live buffer; the count is a plain byte like in C.
        unsafe {
            let act = ptr::addr_of_mut!((*self.p()).b_act_count);
            let max: u8 = ffi::ACT_MAX;
            let step: u8 = ffi::ACT_ADVANCE;
            if *act > max - step {
                *act = max;
            } else {
                *act += step;
            }
        }
    }

    /// `regetblk(bp)`: re-lock a buffer HAMMER still references (it may
    /// sleep until running I/O releases it) and take it off its queue.
    pub fn regetblk(self) {
        // SAFETY: live buffer.
        unsafe { ffi::regetblk(self.p()) }
    }

    /// `bremfree(bp)`.
    pub fn bremfree(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::bremfree(self.p()) }
    }

    /// `bqrelse(bp)`.
    pub fn bqrelse(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::bqrelse(self.p()) }
    }

    /// `brelse(bp)`.
    pub fn brelse(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::brelse(self.p()) }
    }

    /// `bdwrite(bp)`.
    pub fn bdwrite(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::bdwrite(self.p()) }
    }

    /// `bundirty(bp)`.
    pub fn bundirty(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::bundirty(self.p()) }
    }

    /// `cluster_awrite(bp)`: start an asynchronous (possibly clustered)
    /// write; the buffer is the kernel's afterwards.
    pub fn cluster_awrite(self) -> c_int {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::cluster_awrite(self.p()) }
    }

    /// `vfs_bio_clrbuf(bp)`.
    pub fn vfs_bio_clrbuf(self) {
        // SAFETY: live buffer, locked by the caller.
        unsafe { ffi::vfs_bio_clrbuf(self.p()) }
    }

    /// `bpdone(bp, elseit)`.
    pub fn bpdone(self, elseit: c_int) {
        // SAFETY: live buffer.
        unsafe { ffi::bpdone(self.p(), elseit) }
    }

    /// `relpbuf(bp, NULL)`: give back a buffer from [`getpbuf`].
    pub fn relpbuf(self) {
        // SAFETY: a pbuf obtained with a NULL free count.
        unsafe { ffi::relpbuf(self.p(), ptr::null_mut()) }
    }

    /// `crc32(bp->b_data, bp->b_bufsize)`.
    pub fn crc32_data(self) -> u32 {
        // SAFETY: a buffer's b_data maps at least b_bufsize bytes; the
        // caller owns the buffer, so nobody changes them meanwhile.
        let bytes = unsafe {
            let (data, len) = ((*self.p()).b_data, (*self.p()).b_bufsize);
            core::slice::from_raw_parts(data.cast::<u8>().cast_const(), len as usize)
        };
        kern::crc32(bytes)
    }

    /// `bcopy(bp->b_data, dst->b_data, len)`.
    pub fn copy_data_to(self, dst: Buf, len: c_int) {
        // SAFETY: both buffers' b_data map at least `len` bytes (callers
        // bound `len` by the sizes of both) and are owned by the caller.
        unsafe {
            kern::bcopy(
                (*self.p()).b_data.cast::<c_void>(),
                (*dst.p()).b_data.cast::<c_void>(),
                len as usize,
            )
        }
    }

    /// `bcopy(bp->b_data, dst, len)`, `dst` being a location inside a
    /// HAMMER buffer returned by `hammer_bread()`.
    pub fn copy_data_to_ptr(self, dst: DataPtr, len: c_int) {
        // SAFETY: `len` fits both the source buffer and the HAMMER buffer
        // (the caller checked it does not cross a HAMMER buffer boundary).
        unsafe {
            kern::bcopy(
                (*self.p()).b_data.cast::<c_void>(),
                dst.as_ptr(),
                len as usize,
            )
        }
    }
}

/// A place a buffer pointer is returned into (e.g. `&io->bp`), for the
/// read calls that fill it in.
#[derive(Clone, Copy, Debug)]
pub struct BufSlot(NonNull<*mut ffi::buf>);

impl BufSlot {
    /// # Safety
    ///
    /// `slot` is valid for reads and writes while the handle is used.
    pub unsafe fn from_raw(slot: *mut *mut ffi::buf) -> Self {
        match NonNull::new(slot) {
            Some(s) => Self(s),
            None => kern::null_handle(crate::cstr!("buffer slot")),
        }
    }
}

/// `getblk(vp, loffset, size, blkflags, slptimeo)`: the buffer for the
/// range, locked; without GETBLK_* flags it always returns one.
pub fn getblk(vp: Vnode, loffset: i64, size: c_int, blkflags: c_int, slptimeo: c_int) -> Buf {
    // SAFETY: `Vnode` is a vnode the kernel accepts; the result is a
    // locked buffer owned by the caller.
    unsafe { Buf::from_raw_nonnull(ffi::getblk(vp.0, loffset, size, blkflags, slptimeo)) }
}

/// `findblk(vp, loffset, flags)`: an existing buffer, if any.
pub fn findblk(vp: Vnode, loffset: i64, flags: c_int) -> Option<Buf> {
    // SAFETY: as for `getblk`; with FINDBLK_TEST the result is not locked
    // and callers only peek at it, as the C code does.
    unsafe { Buf::from_raw(ffi::findblk(vp.0, loffset, flags)) }
}

/// `getpbuf(NULL)`: a private buffer header outside the cache.
pub fn getpbuf() -> Buf {
    // SAFETY: a NULL free count is allowed; the pbuf is ours until relpbuf.
    unsafe { Buf::from_raw_nonnull(ffi::getpbuf(ptr::null_mut())) }
}

/// `bread(vp, loffset, size, bpp)` of `<sys/buf2.h>`: clears `*bpp`, then
/// `breadnx()` without read-ahead.
pub fn bread(vp: Vnode, loffset: i64, size: c_int, bpp: BufSlot) -> c_int {
    // SAFETY: `BufSlot` is writable; the remaining pointers are NULL
    // (no read-ahead), which breadnx accepts.
    unsafe {
        bpp.0.as_ptr().write(ptr::null_mut());
        ffi::breadnx(
            vp.0,
            loffset,
            size,
            ptr::null_mut(),
            ptr::null_mut(),
            0,
            bpp.0.as_ptr(),
        )
    }
}

/// `cluster_read(vp, filesize, loffset, blksize, minreq, maxreq, bpp)` of
/// `<sys/buf2.h>`: clears `*bpp`, then `cluster_readx()`.
pub fn cluster_read(
    vp: Vnode,
    filesize: i64,
    loffset: i64,
    blksize: c_int,
    minreq: usize,
    maxreq: usize,
    bpp: BufSlot,
) -> c_int {
    // SAFETY: `BufSlot` is writable.
    unsafe {
        bpp.0.as_ptr().write(ptr::null_mut());
        ffi::cluster_readx(
            vp.0,
            filesize,
            loffset,
            blksize,
            minreq,
            maxreq,
            bpp.0.as_ptr(),
        )
    }
}
