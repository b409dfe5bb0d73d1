//! BIO translation layers (`struct bio`) and the calls that move them.

use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use super::buf::{Buf, Vnode};
use super::ffi;
use super::flags::BioFlags;
use super::hammer::Record;
use super::kern;
use super::sleep::WMesg;

/// A handle to one bio layer of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bio(NonNull<ffi::bio>);

/// A completion routine for a bio layer (`bio->bio_done`), or the callback
/// of `breadcb()`. The kernel calls it, possibly from its I/O completion
/// thread, with the bio it was installed on.
pub trait BioDone {
    fn bio_done(bio: Bio);
}

c_callback_fn! {
    fn bio_done_trampoline<T: BioDone>(bio: *mut ffi::bio) {
        // SAFETY: the kernel passes the live bio the routine was installed on.
        let bio = unsafe { Bio::from_raw_nonnull(bio) };
        T::bio_done(bio);
    }
}

impl Bio {
    /// # Safety
    ///
    /// `bio` points to a bio layer that stays valid while the handle is
    /// used (it lives inside its buffer); a NULL panics the kernel.
    pub unsafe fn from_raw_nonnull(bio: *mut ffi::bio) -> Self {
        match NonNull::new(bio) {
            Some(b) => Self(b),
            None => kern::null_handle(crate::cstr!("struct bio")),
        }
    }

    pub fn as_ptr(self) -> *mut ffi::bio {
        self.0.as_ptr()
    }

    fn p(self) -> *mut ffi::bio {
        self.0.as_ptr()
    }

    /// `bio->bio_offset`.
    pub fn offset(self) -> i64 {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_offset }
    }

    pub fn set_offset(self, off: i64) {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_offset = off }
    }

    /// `bio->bio_buf`, the buffer the layer belongs to.
    pub fn buf(self) -> Buf {
        // SAFETY: a bio layer always belongs to a live buffer.
        unsafe { Buf::from_raw_nonnull((*self.p()).bio_buf) }
    }

    /// `bio->bio_flags`.
    pub fn flags(self) -> BioFlags {
        // SAFETY: live bio.
        BioFlags::from_bits_retain(unsafe { (*self.p()).bio_flags } as u32)
    }

    /// `bio->bio_flags |= f`.
    pub fn set(self, f: BioFlags) {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_flags |= f.bits() as c_int }
    }

    /// `bio->bio_flags &= ~f`.
    pub fn clear(self, f: BioFlags) {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_flags &= !(f.bits() as c_int) }
    }

    /// `bio->bio_done = <T's routine>`.
    pub fn set_done<T: BioDone>(self) {
        let done = c_callback!(bio_done_trampoline::<T>, fn(*mut ffi::bio));
        // SAFETY: live bio; the trampoline has the kernel's biodone_t type.
        unsafe { (*self.p()).bio_done = Some(done) }
    }

    /// `bio->bio_done = biodone_sync`.
    pub fn set_done_biodone_sync(self) {
        // SAFETY: live bio; biodone_sync is the kernel's own routine.
        unsafe { (*self.p()).bio_done = Some(ffi::biodone_sync) }
    }

    /// `bio->bio_caller_info1.ptr = record`.
    pub fn set_caller_record(self, record: Record) {
        // SAFETY: live bio; writing one member of the caller union.
        unsafe { (*self.p()).bio_caller_info1.ptr = record.as_ptr().cast::<c_void>() }
    }

    /// `bio->bio_caller_info1.ptr` read as the record stored by
    /// [`Bio::set_caller_record`].
    pub fn caller_record(self) -> Option<Record> {
        // SAFETY: live bio; the member was set by `set_caller_record` on
        // this layer, and the record stays alive while its direct I/O runs
        // (HAMMER_RECG_DIRECT_IO).
        unsafe {
            Record::from_raw(
                (*self.p())
                    .bio_caller_info1
                    .ptr
                    .cast::<ffi::hammer_record>(),
            )
        }
    }

    /// `bio->bio_caller_info1.ptr` read as the bio `breadcb()` was given
    /// as its argument (the original front-end bio).
    pub fn caller_bio(self) -> Bio {
        // SAFETY: live bio; breadcb() stores its argument here, and the
        // argument was a live bio waiting for this completion.
        unsafe { Bio::from_raw_nonnull((*self.p()).bio_caller_info1.ptr.cast::<ffi::bio>()) }
    }

    /// `bio->bio_caller_info1.uvalue32`.
    pub fn caller_uvalue32(self) -> u32 {
        // SAFETY: live bio; reading a plain integer member of the union.
        unsafe { (*self.p()).bio_caller_info1.uvalue32 }
    }

    pub fn set_caller_uvalue32(self, v: u32) {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_caller_info1.uvalue32 = v }
    }

    /// `bio->bio_caller_info2.index`.
    pub fn caller_index2(self) -> c_int {
        // SAFETY: live bio; reading a plain integer member of the union.
        unsafe { (*self.p()).bio_caller_info2.index }
    }

    pub fn set_caller_index2(self, v: c_int) {
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_caller_info2.index = v }
    }

    /// `bio->bio_caller_info1.cluster_head`, used to chain pbufs.
    pub fn cluster_head(self) -> Option<Buf> {
        // SAFETY: live bio; the member was set by `set_cluster_head`.
        unsafe { Buf::from_raw((*self.p()).bio_caller_info1.cluster_head) }
    }

    pub fn set_cluster_head(self, bp: Option<Buf>) {
        let raw = bp.map_or(ptr::null_mut(), Buf::as_ptr);
        // SAFETY: live bio.
        unsafe { (*self.p()).bio_caller_info1.cluster_head = raw }
    }
}

/// `push_bio(bio)`: the next layer down, made current.
pub fn push_bio(bio: Bio) -> Bio {
    // SAFETY: live bio; the result is another layer of the same buffer.
    unsafe { Bio::from_raw_nonnull(ffi::push_bio(bio.p())) }
}

/// `pop_bio(bio)`: the layer above.
pub fn pop_bio(bio: Bio) -> Bio {
    // SAFETY: live bio; the result is another layer of the same buffer.
    unsafe { Bio::from_raw_nonnull(ffi::pop_bio(bio.p())) }
}

/// `biodone(bio)`.
pub fn biodone(bio: Bio) {
    // SAFETY: live bio.
    unsafe { ffi::biodone(bio.p()) }
}

/// `biowait(bio, wmesg)`.
pub fn biowait(bio: Bio, wmesg: WMesg) -> c_int {
    // SAFETY: live bio; valid wait message.
    unsafe { ffi::biowait(bio.p(), wmesg.as_ptr()) }
}

/// `vn_strategy(vp, bio)`: issue the I/O described by the bio.
pub fn vn_strategy(vp: Vnode, bio: Bio) {
    // SAFETY: live bio; `Vnode` is one the kernel accepts.
    unsafe { ffi::vn_strategy(vp.as_ptr(), bio.p()) }
}

/// `breadcb(vp, loffset, size, <T's routine>, arg)`: read through the
/// buffer cache and call `T` with the device bio, whose
/// `bio_caller_info1.ptr` is `arg` (see [`Bio::caller_bio`]).
pub fn breadcb<T: BioDone>(vp: Vnode, loffset: i64, size: c_int, arg: Bio) {
    let done = c_callback!(bio_done_trampoline::<T>, fn(*mut ffi::bio));
    // SAFETY: `arg` is a live bio that stays valid until `T` runs; the
    // callback has the kernel's expected type.
    unsafe {
        ffi::breadcb(
            vp.as_ptr(),
            loffset,
            size,
            Some(done),
            arg.p().cast::<c_void>(),
        )
    }
}
