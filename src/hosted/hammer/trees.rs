//! The per-mount red-black trees the hosted neighbours keep, built on the
//! crate's `<sys/tree.h>`-compatible tree: volumes by `vol_no`
//! (`hammer_vol_rb_tree`), buffers by zone-X offset (`hammer_buf_rb_tree`),
//! B-Tree nodes by node offset (`hammer_nod_rb_tree`) and inodes by
//! (localization, obj_id, asof) (`hammer_ino_rb_tree`).
//!
//! The I/O layer walks the volume tree itself (`RB_FOREACH` in
//! `hammer_io_flush_sync`), through `hammer_vol_rb_tree_RB_MINMAX` and
//! `hammer_vol_rb_tree_RB_NEXT`; those and the rest of what
//! `RB_GENERATE2(hammer_vol_rb_tree, ...)` emits are exported here with
//! their C types.

use core::cmp::Ordering;
use core::ffi::{c_int, c_void};
use core::ptr::addr_of_mut;

pub use super::ntrace::{hammer_vol_rb_tree_RB_MINMAX, hammer_vol_rb_tree_RB_NEXT};
use crate::rbtree::{RbTree, ScanFn};
use crate::sys::ffi;

/// Maps an ordering to the C comparison convention.
fn ord(o: Ordering) -> c_int {
    match o {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    }
}

macro_rules! spin_fns {
    ($lock:ident, $unlock:ident, $head:ty) => {
        /// `RB_SCAN_LOCK`: the head's spinlock.
        ///
        /// # Safety
        ///
        /// `head` points to a live head with an initialised spinlock.
        unsafe fn $lock(head: *mut $head) {
            // SAFETY: caller contract; the lock lives inside the head.
            unsafe { ffi::rb_spin_lock(addr_of_mut!((*head).rbh_spin)) }
        }

        /// `RB_SCAN_UNLOCK`.
        ///
        /// # Safety
        ///
        /// `head` points to a live head whose spinlock the caller holds.
        unsafe fn $unlock(head: *mut $head) {
            // SAFETY: caller contract.
            unsafe { ffi::rb_spin_unlock(addr_of_mut!((*head).rbh_spin)) }
        }
    };
}

spin_fns!(vol_lock, vol_unlock, ffi::hammer_vol_rb_tree);
spin_fns!(buf_lock, buf_unlock, ffi::hammer_buf_rb_tree);
spin_fns!(nod_lock, nod_unlock, ffi::hammer_nod_rb_tree);
spin_fns!(ino_lock, ino_unlock, ffi::hammer_ino_rb_tree);
spin_fns!(und_lock, und_unlock, ffi::hammer_und_rb_tree);
spin_fns!(redo_lock, redo_unlock, ffi::hammer_redo_rb_tree);
spin_fns!(rec_lock, rec_unlock, ffi::hammer_rec_rb_tree);

/// `hammer_vol_rb_compare`: by `vol_no`.
///
/// # Safety
///
/// Both point to live volumes.
unsafe fn vol_cmp(a: *mut ffi::hammer_volume, b: *mut ffi::hammer_volume) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).vol_no, (*b).vol_no) };
    ord(a.cmp(&b))
}

/// `hammer_buf_rb_compare`: by zone-X offset (not zone-2).
///
/// # Safety
///
/// Both point to live buffers.
unsafe fn buf_cmp(a: *mut ffi::hammer_buffer, b: *mut ffi::hammer_buffer) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).zoneX_offset, (*b).zoneX_offset) };
    ord(a.cmp(&b))
}

/// `hammer_nod_rb_compare`: by node offset.
///
/// # Safety
///
/// Both point to live nodes.
unsafe fn nod_cmp(a: *mut ffi::hammer_node, b: *mut ffi::hammer_node) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).node_offset, (*b).node_offset) };
    ord(a.cmp(&b))
}

/// The key of an inode in the inode tree.
///
/// # Safety
///
/// `ip` points to a live inode.
unsafe fn ino_key(ip: *mut ffi::hammer_inode) -> (u32, i64, u64) {
    // SAFETY: caller contract.
    unsafe { ((*ip).obj_localization, (*ip).obj_id, (*ip).obj_asof) }
}

/// `hammer_ino_rb_compare`: by localization, then object id, then as-of.
///
/// # Safety
///
/// Both point to live inodes.
unsafe fn ino_cmp(a: *mut ffi::hammer_inode, b: *mut ffi::hammer_inode) -> c_int {
    // SAFETY: caller contract.
    unsafe { ord(ino_key(a).cmp(&ino_key(b))) }
}

/// `hammer_und_rb_compare`: by offset.
///
/// # Safety
///
/// Both point to live undo history entries.
unsafe fn und_cmp(a: *mut ffi::hammer_undo, b: *mut ffi::hammer_undo) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).offset, (*b).offset) };
    ord(a.cmp(&b))
}

/// `hammer_redo_rb_compare`: by the inode's earliest REDO offset.
///
/// # Safety
///
/// Both point to live inodes.
unsafe fn redo_cmp(a: *mut ffi::hammer_inode, b: *mut ffi::hammer_inode) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe { ((*a).redo_fifo_start, (*b).redo_fifo_start) };
    ord(a.cmp(&b))
}

/// Records that are deleted (front- or backend) or committed sort after
/// live ones with the same key and never compare equal.
const REC_GONE: c_int = (ffi::HAMMER_RECF_DELETED_FE
    | ffi::HAMMER_RECF_DELETED_BE
    | ffi::HAMMER_RECF_COMMITTED) as c_int;

/// `hammer_rec_rb_compare`: by record type, then key; among equal keys a
/// deleted or committed record sorts after the others.
///
/// # Safety
///
/// Both point to live records.
pub unsafe fn rec_cmp(a: *mut ffi::hammer_record, b: *mut ffi::hammer_record) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        let ka = ((*a).leaf.base.rec_type, (*a).leaf.base.key);
        let kb = ((*b).leaf.base.rec_type, (*b).leaf.base.key);
        match ka.cmp(&kb) {
            Ordering::Equal => {}
            o => return ord(o),
        }
        if (*a).flags & REC_GONE != 0 {
            return 1;
        }
        if (*b).flags & REC_GONE != 0 {
            return -1;
        }
        0
    }
}

crate::rb_adapter! {
    /// The recent-UNDO history of a mount, by offset.
    pub UndAdapter: ffi::hammer_und_rb_tree => ffi::hammer_undo, entry rb_node,
    compare = und_cmp, lock = und_lock, unlock = und_unlock
}

crate::rb_adapter! {
    /// Inodes with REDO records in the FIFO, by earliest REDO offset.
    pub RedoAdapter: ffi::hammer_redo_rb_tree => ffi::hammer_inode, entry rb_redonode,
    compare = redo_cmp, lock = redo_lock, unlock = redo_unlock
}

crate::rb_adapter! {
    /// In-memory records of an inode.
    pub RecAdapter: ffi::hammer_rec_rb_tree => ffi::hammer_record, entry rb_node,
    compare = rec_cmp, lock = rec_lock, unlock = rec_unlock
}

crate::rb_adapter! {
    /// Volumes of a mount, by `vol_no`.
    pub VolAdapter: ffi::hammer_vol_rb_tree => ffi::hammer_volume, entry rb_node,
    compare = vol_cmp, lock = vol_lock, unlock = vol_unlock
}

crate::rb_adapter! {
    /// Buffers of a mount, by zone-X offset.
    pub BufAdapter: ffi::hammer_buf_rb_tree => ffi::hammer_buffer, entry rb_node,
    compare = buf_cmp, lock = buf_lock, unlock = buf_unlock
}

crate::rb_adapter! {
    /// B-Tree nodes of a mount, by node offset.
    pub NodAdapter: ffi::hammer_nod_rb_tree => ffi::hammer_node, entry rb_node,
    compare = nod_cmp, lock = nod_lock, unlock = nod_unlock
}

crate::rb_adapter! {
    /// In-memory inodes of a mount.
    pub InoAdapter: ffi::hammer_ino_rb_tree => ffi::hammer_inode, entry rb_node,
    compare = ino_cmp, lock = ino_lock, unlock = ino_unlock
}

/// Volume tree operations.
pub type VolTree = RbTree<VolAdapter>;
/// Buffer tree operations.
pub type BufTree = RbTree<BufAdapter>;
/// Node tree operations.
pub type NodTree = RbTree<NodAdapter>;
/// Inode tree operations.
pub type InoTree = RbTree<InoAdapter>;
/// Undo history tree operations.
pub type UndTree = RbTree<UndAdapter>;
/// REDO inode tree operations.
pub type InoRedoTree = RbTree<RedoAdapter>;
/// Record tree operations.
pub type RecTree = RbTree<RecAdapter>;

/// `RB_LOOKUP(hammer_und_rb_tree, head, offset)`.
///
/// # Safety
///
/// Tree contract of [`RbTree`].
pub unsafe fn und_lookup(head: *mut ffi::hammer_und_rb_tree, off: u64) -> *mut ffi::hammer_undo {
    // SAFETY: forwarded contract; the closure only reads tree nodes.
    unsafe { UndTree::lookup(head, |n| ord(off.cmp(&(*n).offset))) }
}

/// `RB_LOOKUP(hammer_vol_rb_tree, head, vol_no)`.
///
/// # Safety
///
/// Tree contract of [`RbTree`].
pub unsafe fn vol_lookup(
    head: *mut ffi::hammer_vol_rb_tree,
    vol_no: i32,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract; the closure only reads tree nodes.
    unsafe { VolTree::lookup(head, |n| ord(vol_no.cmp(&(*n).vol_no))) }
}

/// `RB_LOOKUP(hammer_buf_rb_tree, head, zoneX_offset)`.
///
/// # Safety
///
/// Tree contract of [`RbTree`].
pub unsafe fn buf_lookup(head: *mut ffi::hammer_buf_rb_tree, off: u64) -> *mut ffi::hammer_buffer {
    // SAFETY: forwarded contract; the closure only reads tree nodes.
    unsafe { BufTree::lookup(head, |n| ord(off.cmp(&(*n).zoneX_offset))) }
}

/// `RB_LOOKUP(hammer_nod_rb_tree, head, node_offset)`.
///
/// # Safety
///
/// Tree contract of [`RbTree`].
pub unsafe fn nod_lookup(head: *mut ffi::hammer_nod_rb_tree, off: u64) -> *mut ffi::hammer_node {
    // SAFETY: forwarded contract; the closure only reads tree nodes.
    unsafe { NodTree::lookup(head, |n| ord(off.cmp(&(*n).node_offset))) }
}

/// Exact lookup of an inode by (localization, obj_id, asof).
///
/// # Safety
///
/// Tree contract of [`RbTree`].
pub unsafe fn ino_lookup(
    head: *mut ffi::hammer_ino_rb_tree,
    localization: u32,
    obj_id: i64,
    asof: u64,
) -> *mut ffi::hammer_inode {
    let key = (localization, obj_id, asof);
    // SAFETY: forwarded contract; the closure only reads tree nodes.
    unsafe { InoTree::lookup(head, |n| ord(key.cmp(&ino_key(n)))) }
}

/// `hammer_vol_rb_tree_RB_INSERT_COLOR`.
///
/// # Safety
///
/// As [`RbTree::insert_color`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_INSERT_COLOR(
    head: *mut ffi::hammer_vol_rb_tree,
    elm: *mut ffi::hammer_volume,
) {
    // SAFETY: forwarded contract.
    unsafe { VolTree::insert_color(head, elm) }
}

/// `hammer_vol_rb_tree_RB_REMOVE_COLOR`.
///
/// # Safety
///
/// As [`RbTree::remove_color`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_REMOVE_COLOR(
    head: *mut ffi::hammer_vol_rb_tree,
    parent: *mut ffi::hammer_volume,
    elm: *mut ffi::hammer_volume,
) {
    // SAFETY: forwarded contract.
    unsafe { VolTree::remove_color(head, parent, elm) }
}

/// `hammer_vol_rb_tree_RB_REMOVE`.
///
/// # Safety
///
/// As [`RbTree::remove`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_REMOVE(
    head: *mut ffi::hammer_vol_rb_tree,
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::remove(head, elm) }
}

/// `hammer_vol_rb_tree_RB_INSERT`: null on success, else the volume that
/// already has `elm`'s number.
///
/// # Safety
///
/// As [`RbTree::insert`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_INSERT(
    head: *mut ffi::hammer_vol_rb_tree,
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::insert(head, elm) }
}

/// `hammer_vol_rb_tree_RB_FIND`.
///
/// # Safety
///
/// As [`RbTree::find`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_FIND(
    head: *mut ffi::hammer_vol_rb_tree,
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::find(head, elm) }
}

/// `hammer_vol_rb_tree_RB_SCAN`.
///
/// # Safety
///
/// As [`RbTree::scan`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_SCAN(
    head: *mut ffi::hammer_vol_rb_tree,
    scancmp: ScanFn<ffi::hammer_volume>,
    callback: ScanFn<ffi::hammer_volume>,
    data: *mut c_void,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { VolTree::scan(head, scancmp, callback, data) }
}

/// `hammer_vol_rb_tree_RB_NEXT`.
///
/// # Safety
///
/// As [`RbTree::next`].
/// Untraced body of the C entry point `hammer_vol_rb_tree_RB_NEXT` (see `ntrace`).
#[allow(non_snake_case)]
pub(crate) unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_NEXT_untraced(
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::next(elm) }
}

/// `hammer_vol_rb_tree_RB_PREV`.
///
/// # Safety
///
/// As [`RbTree::prev`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_PREV(
    elm: *mut ffi::hammer_volume,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::prev(elm) }
}

/// `hammer_vol_rb_tree_RB_MINMAX`.
///
/// # Safety
///
/// As [`RbTree::minmax`].
/// Untraced body of the C entry point `hammer_vol_rb_tree_RB_MINMAX` (see `ntrace`).
#[allow(non_snake_case)]
pub(crate) unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_MINMAX_untraced(
    head: *mut ffi::hammer_vol_rb_tree,
    val: c_int,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { VolTree::minmax(head, val) }
}

/// `hammer_vol_rb_tree_RB_LOOKUP`.
///
/// # Safety
///
/// Tree contract of [`RbTree`].
#[no_mangle]
pub unsafe extern "C-unwind" fn hammer_vol_rb_tree_RB_LOOKUP(
    head: *mut ffi::hammer_vol_rb_tree,
    vol_no: i32,
) -> *mut ffi::hammer_volume {
    // SAFETY: forwarded contract.
    unsafe { vol_lookup(head, vol_no) }
}

/// Compile-time proof that the two exports the I/O layer imports have the
/// C types bindgen read from `RB_PROTOTYPE2(hammer_vol_rb_tree, ...)`.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    use super::sig::*;
    same1(ffi::hammer_vol_rb_tree_RB_NEXT, hammer_vol_rb_tree_RB_NEXT);
    same2(
        ffi::hammer_vol_rb_tree_RB_MINMAX,
        hammer_vol_rb_tree_RB_MINMAX,
    );
}
