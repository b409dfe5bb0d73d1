//! `struct bio_ops`: the per-buffer callback table through which the
//! buffer cache asks a filesystem about buffers carrying its dependencies
//! (`bp->b_dep`).

use core::ffi::c_int;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use super::buf::{Buf, Vnode};
use super::ffi;

/// An opaque `struct mount *` (only ever passed through).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VfsMount(*mut ffi::mount);

/// The callbacks of a `bio_ops` table, one per field of the C structure.
/// The buffer handed to each is owned (locked) by the caller, or by the
/// kernel during I/O completion.
pub trait BioOps {
    fn io_start(bp: Buf);
    fn io_complete(bp: Buf);
    fn io_deallocate(bp: Buf);
    fn io_fsync(vp: Vnode) -> c_int;
    fn io_sync(mp: VfsMount) -> c_int;
    fn io_movedeps(bp1: Buf, bp2: Buf);
    fn io_countdeps(bp: Buf, n: c_int) -> c_int;
    fn io_checkread(bp: Buf) -> c_int;
    fn io_checkwrite(bp: Buf) -> c_int;
}

unsafe extern "C" fn start<T: BioOps>(bp: *mut ffi::buf) {
    // SAFETY: the kernel passes a live buffer with our dependency.
    T::io_start(unsafe { Buf::from_raw_nonnull(bp) })
}

unsafe extern "C" fn complete<T: BioOps>(bp: *mut ffi::buf) {
    // SAFETY: as for `start`.
    T::io_complete(unsafe { Buf::from_raw_nonnull(bp) })
}

unsafe extern "C" fn deallocate<T: BioOps>(bp: *mut ffi::buf) {
    // SAFETY: as for `start`.
    T::io_deallocate(unsafe { Buf::from_raw_nonnull(bp) })
}

unsafe extern "C" fn fsync<T: BioOps>(vp: *mut ffi::vnode) -> c_int {
    // SAFETY: the vnode is only passed through.
    T::io_fsync(unsafe { Vnode::from_raw(vp) })
}

unsafe extern "C" fn sync<T: BioOps>(mp: *mut ffi::mount) -> c_int {
    T::io_sync(VfsMount(mp))
}

unsafe extern "C" fn movedeps<T: BioOps>(bp1: *mut ffi::buf, bp2: *mut ffi::buf) {
    // SAFETY: as for `start`, for both buffers.
    let (a, b) = unsafe { (Buf::from_raw_nonnull(bp1), Buf::from_raw_nonnull(bp2)) };
    T::io_movedeps(a, b)
}

unsafe extern "C" fn countdeps<T: BioOps>(bp: *mut ffi::buf, n: c_int) -> c_int {
    // SAFETY: as for `start`.
    T::io_countdeps(unsafe { Buf::from_raw_nonnull(bp) }, n)
}

unsafe extern "C" fn checkread<T: BioOps>(bp: *mut ffi::buf) -> c_int {
    // SAFETY: as for `start`.
    T::io_checkread(unsafe { Buf::from_raw_nonnull(bp) })
}

unsafe extern "C" fn checkwrite<T: BioOps>(bp: *mut ffi::buf) -> c_int {
    // SAFETY: as for `start`.
    T::io_checkwrite(unsafe { Buf::from_raw_nonnull(bp) })
}

/// A `struct bio_ops` whose nine callbacks dispatch to `T`; the list
/// linkage (`entry`, used only by the kernel's registration of global
/// tables) starts out zeroed like a C static initialiser leaves it.
pub const fn bio_ops_table<T: BioOps>() -> ffi::bio_ops {
    // SAFETY: all-zero is a valid bio_ops: NULL list links and `None`
    // callbacks.
    let mut ops: ffi::bio_ops = unsafe { MaybeUninit::zeroed().assume_init() };
    ops.io_start = Some(start::<T>);
    ops.io_complete = Some(complete::<T>);
    ops.io_deallocate = Some(deallocate::<T>);
    ops.io_fsync = Some(fsync::<T>);
    ops.io_sync = Some(sync::<T>);
    ops.io_movedeps = Some(movedeps::<T>);
    ops.io_countdeps = Some(countdeps::<T>);
    ops.io_checkread = Some(checkread::<T>);
    ops.io_checkwrite = Some(checkwrite::<T>);
    ops
}

/// A pointer to a `bio_ops` table with static lifetime, for `bp->b_ops`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BioOpsRef(NonNull<ffi::bio_ops>);

impl BioOpsRef {
    /// # Safety
    ///
    /// `ops` points to a `bio_ops` table that lives (and keeps valid
    /// callbacks) for the rest of the module's lifetime.
    pub unsafe fn from_static(ops: *mut ffi::bio_ops) -> Self {
        match NonNull::new(ops) {
            Some(p) => Self(p),
            None => crate::sys::kern::null_handle(crate::cstr!("bio_ops")),
        }
    }

    pub fn as_ptr(self) -> *mut ffi::bio_ops {
        self.0.as_ptr()
    }
}
