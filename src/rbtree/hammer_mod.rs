//! The tree of modified `hammer_io`s (`struct hammer_mod_rb_tree`) and the
//! nine functions `RB_GENERATE(hammer_mod_rb_tree, hammer_io, rb_node,
//! hammer_mod_rb_compare)` gives the rest of HAMMER.
//!
//! Each mount keeps several of these trees (volume, meta-data, undo, data,
//! lose); `hammer_io_set_modlist` puts a dirty io on one and the flusher
//! walks them with `RB_SCAN`. The other HAMMER files call these symbols
//! directly, so their names and C types are part of the module's ABI.

use core::ffi::{c_int, c_void};
use core::mem::{align_of, offset_of, size_of};
use core::ptr::addr_of_mut;

use super::{RbTree, ScanFn, ScanInfo};
use crate::sys::ffi;

type Head = ffi::hammer_mod_rb_tree;
type Io = ffi::hammer_io;

/// Sort key of an io: its zone-2 offset without the zone bits, shifted
/// left by 8, with the volume number or-ed into the low byte.
///
/// The volume number is widened the way C widens an `int32_t` against a
/// `hammer_off_t` (sign extension), so even a nonsensical negative
/// `vol_no` sorts exactly like the original.
///
/// # Safety
///
/// `io` points to a live `hammer_io` whose `volume` points to a live volume.
#[inline]
unsafe fn mod_key(io: *mut Io) -> u64 {
    // SAFETY: caller contract; plain field reads.
    let (offset, vol_no) = unsafe { ((*io).offset, (*(*io).volume).vol_no) };
    (((offset as u64) & ffi::HAMMER_OFF_SHORT_MASK) << 8) | (vol_no as u64)
}

/// `hammer_mod_rb_compare`: orders ios by [`mod_key`], unsigned.
///
/// # Safety
///
/// Both ios are live and have a live `volume`.
pub unsafe fn hammer_mod_rb_compare(io1: *mut Io, io2: *mut Io) -> c_int {
    // SAFETY: forwarded caller contract.
    let (k1, k2) = unsafe { (mod_key(io1), mod_key(io2)) };
    match k1.cmp(&k2) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1,
    }
}

/// `RB_SCAN_LOCK` of the kernel build: the head's spinlock via the
/// kernel's `rb_spin_lock`.
///
/// # Safety
///
/// `head` points to a live head with an initialised spinlock.
unsafe fn mod_scan_lock(head: *mut Head) {
    // SAFETY: caller contract; the lock lives inside the head.
    unsafe { ffi::rb_spin_lock(addr_of_mut!((*head).rbh_spin)) }
}

/// `RB_SCAN_UNLOCK` counterpart of [`mod_scan_lock`].
///
/// # Safety
///
/// `head` points to a live head whose spinlock the caller holds.
unsafe fn mod_scan_unlock(head: *mut Head) {
    // SAFETY: caller contract.
    unsafe { ffi::rb_spin_unlock(addr_of_mut!((*head).rbh_spin)) }
}

crate::rb_adapter! {
    /// `struct hammer_mod_rb_tree` of `struct hammer_io`, linked through
    /// `rb_node` and ordered by `hammer_mod_rb_compare`.
    pub HammerModTree: Head => Io, entry rb_node,
    compare = hammer_mod_rb_compare, lock = mod_scan_lock, unlock = mod_scan_unlock
}

/// The tree operations on `hammer_mod_rb_tree`.
pub type ModTree = RbTree<HammerModTree>;

// The adapter views `rbh_inprog` as a list of our ScanInfo: the bound
// RB_SCAN_INFO struct must have the same layout.
const _: () = {
    type Bound = ffi::hammer_mod_rb_tree_scan_info;
    type Ours = ScanInfo<Io>;
    assert!(size_of::<Bound>() == size_of::<Ours>());
    assert!(align_of::<Bound>() == align_of::<Ours>());
    assert!(offset_of!(Bound, link) == offset_of!(Ours, link));
    assert!(offset_of!(Bound, node) == offset_of!(Ours, node));
};

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_INSERT_COLOR`.
///
/// # Safety
///
/// As [`RbTree::insert_color`]; `elm` is an io in the tree at `head`.
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_INSERT_COLOR(head: *mut Head, elm: *mut Io) {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::insert_color(head, elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_REMOVE_COLOR`.
///
/// # Safety
///
/// As [`RbTree::remove_color`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_REMOVE_COLOR(
    head: *mut Head,
    parent: *mut Io,
    elm: *mut Io,
) {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::remove_color(head, parent, elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_REMOVE`: unlinks `elm` (in the tree) and
/// returns it.
///
/// # Safety
///
/// As [`RbTree::remove`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_REMOVE(head: *mut Head, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::remove(head, elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_INSERT`: links `elm` in, or returns the io
/// already there with the same key.
///
/// # Safety
///
/// As [`RbTree::insert`]; `elm->volume` is live.
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_INSERT(head: *mut Head, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::insert(head, elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_FIND`: the io with `elm`'s key, or null.
///
/// # Safety
///
/// As [`RbTree::find`]; `elm->volume` is live.
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_FIND(head: *mut Head, elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::find(head, elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_SCAN`: see [`RbTree::scan`].
///
/// # Safety
///
/// As [`RbTree::scan`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_SCAN(
    head: *mut Head,
    scancmp: ScanFn<Io>,
    callback: ScanFn<Io>,
    data: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::scan(head, scancmp, callback, data) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_NEXT`: in-order successor, or null.
///
/// # Safety
///
/// As [`RbTree::next`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_NEXT(elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::next(elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_PREV`: in-order predecessor, or null.
///
/// # Safety
///
/// As [`RbTree::prev`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_PREV(elm: *mut Io) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::prev(elm) }
}
}

c_abi_fn! {
/// `hammer_mod_rb_tree_RB_MINMAX`: smallest io if `val < 0`, else largest.
///
/// # Safety
///
/// As [`RbTree::minmax`].
#[no_mangle]
pub unsafe fn hammer_mod_rb_tree_RB_MINMAX(head: *mut Head, val: c_int) -> *mut Io {
    // SAFETY: forwarded caller contract.
    unsafe { ModTree::minmax(head, val) }
}
}

/// Compile-time proof that every export has exactly the C type bindgen
/// read from `RB_PROTOTYPE2(hammer_mod_rb_tree, ...)` in hammer.h: a
/// function item only coerces to a function-pointer type whose parameter
/// and return types are identical to its own, and both items must coerce
/// to one and the same pointer type here.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    fn same<T>(_: T, _: T) {}
    same::<c_fn!(fn(_, _))>(
        ffi::hammer_mod_rb_tree_RB_INSERT_COLOR,
        hammer_mod_rb_tree_RB_INSERT_COLOR,
    );
    same::<c_fn!(fn(_, _, _))>(
        ffi::hammer_mod_rb_tree_RB_REMOVE_COLOR,
        hammer_mod_rb_tree_RB_REMOVE_COLOR,
    );
    same::<c_fn!(fn(_, _) -> _)>(
        ffi::hammer_mod_rb_tree_RB_REMOVE,
        hammer_mod_rb_tree_RB_REMOVE,
    );
    same::<c_fn!(fn(_, _) -> _)>(
        ffi::hammer_mod_rb_tree_RB_INSERT,
        hammer_mod_rb_tree_RB_INSERT,
    );
    same::<c_fn!(fn(_, _) -> _)>(ffi::hammer_mod_rb_tree_RB_FIND, hammer_mod_rb_tree_RB_FIND);
    same::<c_fn!(fn(_, _, _, _) -> _)>(ffi::hammer_mod_rb_tree_RB_SCAN, hammer_mod_rb_tree_RB_SCAN);
    same::<c_fn!(fn(_) -> _)>(ffi::hammer_mod_rb_tree_RB_NEXT, hammer_mod_rb_tree_RB_NEXT);
    same::<c_fn!(fn(_) -> _)>(ffi::hammer_mod_rb_tree_RB_PREV, hammer_mod_rb_tree_RB_PREV);
    same::<c_fn!(fn(_, _) -> _)>(
        ffi::hammer_mod_rb_tree_RB_MINMAX,
        hammer_mod_rb_tree_RB_MINMAX,
    );
}
