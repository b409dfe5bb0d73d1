//! The C entry points: every non-tree symbol the original `hammer_io.o`
//! defines, with exactly the C types of `hammer.h` (checked against the
//! bindings at compile time below). Each converts its raw arguments into
//! handles and runs the logic of the other modules.
//!
//! # Safety (all functions)
//!
//! These are called by HAMMER with its usual guarantees: pointers are
//! non-NULL (except where the C code allows NULL: `trans`, `leaf` for the
//! reads) and point to live, initialised structures, and the caller holds
//! the locks and references the corresponding C function requires.

use core::ffi::{c_char, c_int, c_void};
use core::ptr;

use crate::io::{association, direct, dirty, errors, flush};
use crate::sys::bio::Bio;
use crate::sys::buf::{Buf, Vnode};
use crate::sys::ffi;
use crate::sys::hammer::{Buffer, DataPtr, Io, IoType, Leaf, Mount, Record, Transaction, Volume};
use crate::sys::sleep::WMesg;

pub use crate::io::bioops::hammer_bioops;

c_abi_fn! {
/// Initialise or re-type a zeroed io (`hammer_io_init`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_init(
    io: ffi::hammer_io_t,
    volume: ffi::hammer_volume_t,
    type_: ffi::hammer_io_type,
) {
    // SAFETY: live io and volume (module contract).
    let (io, volume) = unsafe { (Io::from_raw_nonnull(io), Volume::from_raw_nonnull(volume)) };
    association::init(io, volume, IoType(type_));
}
}

c_abi_fn! {
/// Load the io's buffer from `devvp` (`hammer_io_read`).
///
/// # Safety
///
/// See the module documentation; the io is exclusively locked.
#[no_mangle]
pub unsafe fn hammer_io_read(
    devvp: *mut ffi::vnode,
    io: *mut ffi::hammer_io,
    limit: c_int,
) -> c_int {
    // SAFETY: module contract.
    let (devvp, io) = unsafe { (Vnode::from_raw(devvp), Io::from_raw_nonnull(io)) };
    association::read(devvp, io, limit)
}
}

c_abi_fn! {
/// Bump the buffer's LRU activity (`hammer_io_advance`).
///
/// # Safety
///
/// See the module documentation; the caller holds a ref on the io.
#[no_mangle]
pub unsafe fn hammer_io_advance(io: *mut ffi::hammer_io) {
    // SAFETY: module contract.
    association::advance(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Instantiate a cleared, modified buffer for the io (`hammer_io_new`).
///
/// # Safety
///
/// See the module documentation; the io is exclusively locked.
#[no_mangle]
pub unsafe fn hammer_io_new(devvp: *mut ffi::vnode, io: *mut ffi::hammer_io) -> c_int {
    // SAFETY: module contract.
    let (devvp, io) = unsafe { (Vnode::from_raw(devvp), Io::from_raw_nonnull(io)) };
    association::new(devvp, io)
}
}

c_abi_fn! {
/// Drop a device-level alias of a zone-2 buffer (`hammer_io_inval`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_inval(
    volume: ffi::hammer_volume_t,
    zone2_offset: ffi::hammer_off_t,
) -> c_int {
    // SAFETY: module contract.
    association::inval(unsafe { Volume::from_raw_nonnull(volume) }, zone2_offset)
}
}

c_abi_fn! {
/// Last-reference release of the io's buffer (`hammer_io_release`).
///
/// # Safety
///
/// See the module documentation; the io is interlocked with no refs.
#[no_mangle]
pub unsafe fn hammer_io_release(io: *mut ffi::hammer_io, flush: c_int) -> *mut ffi::buf {
    // SAFETY: module contract.
    let bp = association::release(unsafe { Io::from_raw_nonnull(io) }, flush);
    bp.map_or(ptr::null_mut(), Buf::as_ptr)
}
}

c_abi_fn! {
/// Start writing a dirty io (`hammer_io_flush`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_flush(io: *mut ffi::hammer_io, reclaim: c_int) {
    // SAFETY: module contract.
    flush::flush(unsafe { Io::from_raw_nonnull(io) }, reclaim);
}
}

c_abi_fn! {
/// Wait for the io's write to finish (`hammer_io_wait`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_wait(io: *mut ffi::hammer_io) {
    // SAFETY: module contract.
    association::wait(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Wait for all queued writes of the mount (`hammer_io_wait_all`).
///
/// # Safety
///
/// See the module documentation; `ident` is a NUL-terminated string.
#[no_mangle]
pub unsafe fn hammer_io_wait_all(
    hmp: ffi::hammer_mount_t,
    ident: *const c_char,
    doflush: c_int,
) {
    // SAFETY: module contract.
    let (hmp, ident) = unsafe { (Mount::from_raw_nonnull(hmp), WMesg::from_raw(ident)) };
    association::wait_all(hmp, ident, doflush);
}
}

c_abi_fn! {
/// Direct read of large file data (`hammer_io_direct_read`).
///
/// # Safety
///
/// See the module documentation; `leaf` may be NULL.
#[no_mangle]
pub unsafe fn hammer_io_direct_read(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    leaf: ffi::hammer_btree_leaf_elm_t,
) -> c_int {
    // SAFETY: module contract.
    let (hmp, bio, leaf) = unsafe {
        (
            Mount::from_raw_nonnull(hmp),
            Bio::from_raw_nonnull(bio),
            Leaf::from_raw(leaf),
        )
    };
    direct::direct_read(hmp, bio, leaf)
}
}

c_abi_fn! {
/// Read of large file data through the device buffer cache
/// (`hammer_io_indirect_read`).
///
/// # Safety
///
/// See the module documentation; `leaf` may be NULL.
#[no_mangle]
pub unsafe fn hammer_io_indirect_read(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    leaf: ffi::hammer_btree_leaf_elm_t,
) -> c_int {
    // SAFETY: module contract.
    let (hmp, bio, leaf) = unsafe {
        (
            Mount::from_raw_nonnull(hmp),
            Bio::from_raw_nonnull(bio),
            Leaf::from_raw(leaf),
        )
    };
    direct::indirect_read(hmp, bio, leaf)
}
}

c_abi_fn! {
/// Direct write of file data for a record (`hammer_io_direct_write`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_direct_write(
    hmp: ffi::hammer_mount_t,
    bio: *mut ffi::bio,
    record: ffi::hammer_record_t,
) -> c_int {
    // SAFETY: module contract.
    let (hmp, bio, record) = unsafe {
        (
            Mount::from_raw_nonnull(hmp),
            Bio::from_raw_nonnull(bio),
            Record::from_raw_nonnull(record),
        )
    };
    direct::direct_write(hmp, bio, record)
}
}

c_abi_fn! {
/// Resolve a record's direct I/O (`hammer_io_direct_wait`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_direct_wait(record: ffi::hammer_record_t) {
    // SAFETY: module contract.
    direct::direct_wait(unsafe { Record::from_raw_nonnull(record) });
}
}

c_abi_fn! {
/// Forget cached translations of relocated data
/// (`hammer_io_direct_uncache`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_direct_uncache(
    hmp: ffi::hammer_mount_t,
    leaf: ffi::hammer_btree_leaf_elm_t,
) {
    // SAFETY: module contract.
    let (hmp, leaf) = unsafe { (Mount::from_raw_nonnull(hmp), Leaf::from_raw_nonnull(leaf)) };
    direct::direct_uncache(hmp, leaf);
}
}

c_abi_fn! {
/// Keep modifiers out while the flusher writes (`hammer_io_write_interlock`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_write_interlock(io: ffi::hammer_io_t) {
    // SAFETY: module contract.
    dirty::write_interlock(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Release the write interlock (`hammer_io_done_interlock`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_done_interlock(io: ffi::hammer_io_t) {
    // SAFETY: module contract.
    dirty::done_interlock(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Mark the io clean and finalise delayed CRCs (`hammer_io_clear_modify`).
///
/// # Safety
///
/// See the module documentation; the caller holds a ref on the io.
#[no_mangle]
pub unsafe fn hammer_io_clear_modify(io: *mut ffi::hammer_io, inval: c_int) {
    // SAFETY: module contract.
    dirty::clear_modify(unsafe { Io::from_raw_nonnull(io) }, inval);
}
}

c_abi_fn! {
/// Take a clean io off the lose tree (`hammer_io_clear_modlist`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_clear_modlist(io: *mut ffi::hammer_io) {
    // SAFETY: module contract.
    dirty::clear_modlist(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Flush the device write caches of marked volumes
/// (`hammer_io_flush_sync`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_flush_sync(hmp: ffi::hammer_mount_t) {
    // SAFETY: module contract.
    flush::flush_sync(unsafe { Mount::from_raw_nonnull(hmp) });
}
}

c_abi_fn! {
/// Clear a recorded write error (`hammer_io_clear_error`).
///
/// # Safety
///
/// See the module documentation; the caller holds its own ref.
#[no_mangle]
pub unsafe fn hammer_io_clear_error(io: *mut ffi::hammer_io) {
    // SAFETY: module contract.
    errors::clear_error(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Clear a recorded write error without the ref check
/// (`hammer_io_clear_error_noassert`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_clear_error_noassert(io: *mut ffi::hammer_io) {
    // SAFETY: module contract.
    errors::clear_error_noassert(unsafe { Io::from_raw_nonnull(io) });
}
}

c_abi_fn! {
/// Mark the buffer as not meta-data for the buffer cache
/// (`hammer_io_notmeta`).
///
/// # Safety
///
/// See the module documentation; the caller holds a ref on the buffer.
#[no_mangle]
pub unsafe fn hammer_io_notmeta(buffer: ffi::hammer_buffer_t) {
    // SAFETY: module contract.
    association::notmeta(unsafe { Buffer::from_raw_nonnull(buffer) });
}
}

c_abi_fn! {
/// Throttle on in-flight writes (`hammer_io_limit_backlog`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_io_limit_backlog(hmp: ffi::hammer_mount_t) {
    // SAFETY: module contract.
    flush::limit_backlog(unsafe { Mount::from_raw_nonnull(hmp) });
}
}

c_abi_fn! {
/// About to modify the volume header (`hammer_modify_volume`).
///
/// # Safety
///
/// See the module documentation; `trans` may be NULL, `base..base+len`
/// lies inside the volume's on-disk header.
#[no_mangle]
pub unsafe fn hammer_modify_volume(
    trans: ffi::hammer_transaction_t,
    volume: ffi::hammer_volume_t,
    base: *mut c_void,
    len: c_int,
) {
    // SAFETY: module contract.
    let (trans, volume, base) = unsafe {
        (
            Transaction::from_raw(trans),
            Volume::from_raw_nonnull(volume),
            DataPtr::from_raw(base),
        )
    };
    dirty::modify_volume(trans, volume, base, len);
}
}

c_abi_fn! {
/// About to modify a buffer (`hammer_modify_buffer`).
///
/// # Safety
///
/// See the module documentation; `trans` may be NULL, `base..base+len`
/// lies inside the buffer's on-disk data.
#[no_mangle]
pub unsafe fn hammer_modify_buffer(
    trans: ffi::hammer_transaction_t,
    buffer: ffi::hammer_buffer_t,
    base: *mut c_void,
    len: c_int,
) {
    // SAFETY: module contract.
    let (trans, buffer, base) = unsafe {
        (
            Transaction::from_raw(trans),
            Buffer::from_raw_nonnull(buffer),
            DataPtr::from_raw(base),
        )
    };
    dirty::modify_buffer(trans, buffer, base, len);
}
}

c_abi_fn! {
/// Done modifying the volume header (`hammer_modify_volume_done`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_modify_volume_done(volume: ffi::hammer_volume_t) {
    // SAFETY: module contract.
    dirty::modify_volume_done(unsafe { Volume::from_raw_nonnull(volume) });
}
}

c_abi_fn! {
/// Done modifying a buffer (`hammer_modify_buffer_done`).
///
/// # Safety
///
/// See the module documentation.
#[no_mangle]
pub unsafe fn hammer_modify_buffer_done(buffer: ffi::hammer_buffer_t) {
    // SAFETY: module contract.
    dirty::modify_buffer_done(unsafe { Buffer::from_raw_nonnull(buffer) });
}
}

// ---------------------------------------------------------------------------
// Each export has exactly the type bindgen derived from the C prototype:
// both the Rust definition and the C declaration must coerce to the same
// function-pointer type, which a mismatch in any parameter, the return
// type or the ABI would prevent.

macro_rules! same_type_as_c {
    ($($name:ident: fn($($arg:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        $(
            const _: [c_fn!(fn($($arg),*) $(-> $ret)?); 2] = [$name, ffi::$name];
        )*
    };
}

same_type_as_c! {
    hammer_io_init: fn(ffi::hammer_io_t, ffi::hammer_volume_t, ffi::hammer_io_type);
    hammer_io_read: fn(*mut ffi::vnode, *mut ffi::hammer_io, c_int) -> c_int;
    hammer_io_advance: fn(*mut ffi::hammer_io);
    hammer_io_new: fn(*mut ffi::vnode, *mut ffi::hammer_io) -> c_int;
    hammer_io_inval: fn(ffi::hammer_volume_t, ffi::hammer_off_t) -> c_int;
    hammer_io_release: fn(*mut ffi::hammer_io, c_int) -> *mut ffi::buf;
    hammer_io_flush: fn(*mut ffi::hammer_io, c_int);
    hammer_io_wait: fn(*mut ffi::hammer_io);
    hammer_io_wait_all: fn(ffi::hammer_mount_t, *const c_char, c_int);
    hammer_io_direct_read: fn(ffi::hammer_mount_t, *mut ffi::bio, ffi::hammer_btree_leaf_elm_t) -> c_int;
    hammer_io_indirect_read: fn(ffi::hammer_mount_t, *mut ffi::bio, ffi::hammer_btree_leaf_elm_t) -> c_int;
    hammer_io_direct_write: fn(ffi::hammer_mount_t, *mut ffi::bio, ffi::hammer_record_t) -> c_int;
    hammer_io_direct_wait: fn(ffi::hammer_record_t);
    hammer_io_direct_uncache: fn(ffi::hammer_mount_t, ffi::hammer_btree_leaf_elm_t);
    hammer_io_write_interlock: fn(ffi::hammer_io_t);
    hammer_io_done_interlock: fn(ffi::hammer_io_t);
    hammer_io_clear_modify: fn(*mut ffi::hammer_io, c_int);
    hammer_io_clear_modlist: fn(*mut ffi::hammer_io);
    hammer_io_flush_sync: fn(ffi::hammer_mount_t);
    hammer_io_clear_error: fn(*mut ffi::hammer_io);
    hammer_io_clear_error_noassert: fn(*mut ffi::hammer_io);
    hammer_io_notmeta: fn(ffi::hammer_buffer_t);
    hammer_io_limit_backlog: fn(ffi::hammer_mount_t);
    hammer_modify_volume: fn(ffi::hammer_transaction_t, ffi::hammer_volume_t, *mut c_void, c_int);
    hammer_modify_buffer: fn(ffi::hammer_transaction_t, ffi::hammer_buffer_t, *mut c_void, c_int);
    hammer_modify_volume_done: fn(ffi::hammer_volume_t);
    hammer_modify_buffer_done: fn(ffi::hammer_buffer_t);
}

/// The table has the type of the C declaration `extern struct bio_ops
/// hammer_bioops` (never called; the check is that this compiles).
#[allow(dead_code)]
fn hammer_bioops_has_c_type() {
    let _ours: *mut ffi::bio_ops = &raw mut hammer_bioops;
    let _theirs: *mut ffi::bio_ops = &raw mut ffi::hammer_bioops;
}
