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

c_callback_fn! {
    fn start<T: BioOps>(bp: *mut ffi::buf) {
        // SAFETY: the kernel passes a live buffer with our dependency.
        T::io_start(unsafe { Buf::from_raw_nonnull(bp) })
    }
}

c_callback_fn! {
    fn complete<T: BioOps>(bp: *mut ffi::buf) {
        // SAFETY: as for `start`.
        T::io_complete(unsafe { Buf::from_raw_nonnull(bp) })
    }
}

c_callback_fn! {
    fn deallocate<T: BioOps>(bp: *mut ffi::buf) {
        // SAFETY: as for `start`.
        T::io_deallocate(unsafe { Buf::from_raw_nonnull(bp) })
    }
}

c_callback_fn! {
    fn fsync<T: BioOps>(vp: *mut ffi::vnode) -> c_int {
        // SAFETY: the vnode is only passed through.
        T::io_fsync(unsafe { Vnode::from_raw(vp) })
    }
}

c_callback_fn! {
    fn sync<T: BioOps>(mp: *mut ffi::mount) -> c_int {
        T::io_sync(VfsMount(mp))
    }
}

c_callback_fn! {
    fn movedeps<T: BioOps>(bp1: *mut ffi::buf, bp2: *mut ffi::buf) {
        // SAFETY: as for `start`, for both buffers.
        let (a, b) = unsafe { (Buf::from_raw_nonnull(bp1), Buf::from_raw_nonnull(bp2)) };
        T::io_movedeps(a, b)
    }
}

c_callback_fn! {
    fn countdeps<T: BioOps>(bp: *mut ffi::buf, n: c_int) -> c_int {
        // SAFETY: as for `start`.
        T::io_countdeps(unsafe { Buf::from_raw_nonnull(bp) }, n)
    }
}

c_callback_fn! {
    fn checkread<T: BioOps>(bp: *mut ffi::buf) -> c_int {
        // SAFETY: as for `start`.
        T::io_checkread(unsafe { Buf::from_raw_nonnull(bp) })
    }
}

c_callback_fn! {
    fn checkwrite<T: BioOps>(bp: *mut ffi::buf) -> c_int {
        // SAFETY: as for `start`.
        T::io_checkwrite(unsafe { Buf::from_raw_nonnull(bp) })
    }
}

/// A `struct bio_ops` whose nine callbacks dispatch to `T`; the list
/// linkage (`entry`, used only by the kernel's registration of global
/// tables) starts out zeroed like a C static initialiser leaves it.
pub const fn bio_ops_table<T: BioOps>() -> ffi::bio_ops {
    // SAFETY: all-zero is a valid bio_ops: NULL list links and `None`
    // callbacks.
    let mut ops: ffi::bio_ops = unsafe { MaybeUninit::zeroed().assume_init() };
    ops.io_start = Some(c_callback!(start::<T>, fn(*mut ffi::buf)));
    ops.io_complete = Some(c_callback!(complete::<T>, fn(*mut ffi::buf)));
    ops.io_deallocate = Some(c_callback!(deallocate::<T>, fn(*mut ffi::buf)));
    ops.io_fsync = Some(c_callback!(fsync::<T>, fn(*mut ffi::vnode) -> c_int));
    ops.io_sync = Some(c_callback!(sync::<T>, fn(*mut ffi::mount) -> c_int));
    ops.io_movedeps = Some(c_callback!(movedeps::<T>, fn(*mut ffi::buf, *mut ffi::buf)));
    ops.io_countdeps = Some(c_callback!(
        countdeps::<T>,
        fn(*mut ffi::buf, c_int) -> c_int
    ));
    ops.io_checkread = Some(c_callback!(checkread::<T>, fn(*mut ffi::buf) -> c_int));
    ops.io_checkwrite = Some(c_callback!(checkwrite::<T>, fn(*mut ffi::buf) -> c_int));
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
