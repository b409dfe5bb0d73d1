//! Handles to HAMMER's in-memory structures and the calls into the rest of
//! HAMMER (`hammer_ondisk.c`, `hammer_subs.c`, ...) that the I/O layer makes.
//!
//! `struct hammer_io` is embedded first in `struct hammer_volume` and
//! `struct hammer_buffer` (that is what `union hammer_io_structure`
//! expresses), so an [`Io`] converts to a [`Volume`] or [`Buffer`] by a
//! pointer cast once its `type` says which one it is.

use core::ffi::{c_int, c_long, c_void, CStr};
use core::mem::{offset_of, size_of, MaybeUninit};
use core::ptr::{self, NonNull};

use super::buf::{Buf, BufSlot, Vnode};
use super::counters;
use super::ffi;
use super::kern;
use super::sleep::WaitChan;
use super::token::Token;

macro_rules! handle {
    ($(#[$m:meta])* $name:ident => $raw:ty, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(NonNull<$raw>);

        impl $name {
            /// `None` for NULL.
            ///
            /// # Safety
            ///
            /// A non-NULL `p` points to a live object that stays valid
            /// while the handle is used, accessed under HAMMER's locking
            /// rules.
            pub unsafe fn from_raw(p: *mut $raw) -> Option<Self> {
                NonNull::new(p).map(Self)
            }

            /// For pointers that may not be NULL; a NULL panics the kernel
            /// (where the C code would have faulted).
            ///
            /// # Safety
            ///
            /// As for `from_raw`.
            pub unsafe fn from_raw_nonnull(p: *mut $raw) -> Self {
                match NonNull::new(p) {
                    Some(p) => Self(p),
                    None => kern::null_handle(crate::cstr!($what)),
                }
            }

            pub fn as_ptr(self) -> *mut $raw {
                self.0.as_ptr()
            }
        }
    };
}

handle!(
    /// `struct hammer_mount`: one mounted HAMMER filesystem.
    Mount => ffi::hammer_mount, "hammer_mount"
);
handle!(
    /// `struct hammer_io`: the I/O state shared by volumes and buffers.
    Io => ffi::hammer_io, "hammer_io"
);
handle!(
    /// `struct hammer_volume`.
    Volume => ffi::hammer_volume, "hammer_volume"
);
handle!(
    /// `struct hammer_buffer`.
    Buffer => ffi::hammer_buffer, "hammer_buffer"
);
handle!(
    /// `struct hammer_node`: an in-memory B-Tree node.
    Node => ffi::hammer_node, "hammer_node"
);
handle!(
    /// `struct hammer_record`: an in-memory record.
    Record => ffi::hammer_record, "hammer_record"
);
handle!(
    /// `struct hammer_inode`.
    Inode => ffi::hammer_inode, "hammer_inode"
);
handle!(
    /// `struct hammer_btree_leaf_elm`: a B-Tree leaf element.
    Leaf => ffi::hammer_btree_leaf_elm, "hammer_btree_leaf_elm"
);
handle!(
    /// `struct hammer_transaction`.
    Transaction => ffi::hammer_transaction, "hammer_transaction"
);
handle!(
    /// `struct hammer_lock`, HAMMER's ref-counted lock (`hammer_subs.c`).
    HammerLock => ffi::hammer_lock, "hammer_lock"
);
handle!(
    /// `struct hammer_mod_rb_tree`: one of the mount's trees of modified
    /// (or loose) ios.
    ModTree => ffi::hammer_mod_rb_tree, "hammer_mod_rb_tree"
);

/// `enum hammer_io_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoType(pub ffi::hammer_io_type);

impl IoType {
    pub const HAMMER_STRUCTURE_VOLUME: Self = Self(ffi::HAMMER_STRUCTURE_VOLUME);
    pub const HAMMER_STRUCTURE_META_BUFFER: Self = Self(ffi::HAMMER_STRUCTURE_META_BUFFER);
    pub const HAMMER_STRUCTURE_UNDO_BUFFER: Self = Self(ffi::HAMMER_STRUCTURE_UNDO_BUFFER);
    pub const HAMMER_STRUCTURE_DATA_BUFFER: Self = Self(ffi::HAMMER_STRUCTURE_DATA_BUFFER);
    pub const HAMMER_STRUCTURE_DUMMY: Self = Self(ffi::HAMMER_STRUCTURE_DUMMY);
}

/// An untyped address HAMMER passes around (`void *base`, the data pointer
/// `hammer_bread()` returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataPtr(*mut c_void);

impl DataPtr {
    /// # Safety
    ///
    /// `p` is NULL or points into a live HAMMER buffer or volume header;
    /// writes through it ([`Buf::copy_data_to_ptr`]) must stay inside it.
    pub unsafe fn from_raw(p: *mut c_void) -> Self {
        Self(p)
    }

    pub fn as_ptr(self) -> *mut c_void {
        self.0
    }

    /// The address, for offset arithmetic (`(intptr_t)base`).
    pub fn addr(self) -> isize {
        self.0 as isize
    }
}

// ---------------------------------------------------------------------------
// Raw intrusive TAILQ helpers (<sys/queue.h>), with the INVARIANTS checks.

/// `TAILQ_INSERT_TAIL(head, elm, field)` given raw pointers to the head's
/// `tqh_first`/`tqh_last` and the element's `tqe_next`/`tqe_prev`.
///
/// # Safety
///
/// All pointers refer to a consistent, live list and a live element that
/// is not on it; the caller holds whatever serialises the list.
unsafe fn tailq_insert_tail<T>(
    tqh_last: *mut *mut *mut T,
    elm: *mut T,
    tqe_next: *mut *mut T,
    tqe_prev: *mut *mut *mut T,
) {
    // SAFETY: caller contract.
    unsafe {
        if !(*tqh_last).read().is_null() {
            kern::bad_list_link(
                crate::cstr!("tail element has a successor"),
                tqh_last.cast(),
            );
        }
        tqe_next.write(ptr::null_mut());
        tqe_prev.write(tqh_last.read());
        tqh_last.read().write(elm);
        tqh_last.write(tqe_next);
    }
}

// ---------------------------------------------------------------------------
// struct hammer_mount

impl Mount {
    fn p(self) -> *mut ffi::hammer_mount {
        self.0.as_ptr()
    }

    /// `&hmp->io_token`: serialises against bioops and bio_done callbacks.
    pub fn io_token(self) -> Token {
        // SAFETY: the token is embedded in the live mount.
        unsafe { Token::from_raw(ptr::addr_of_mut!((*self.p()).io_token)) }
    }

    /// `&hmp->fs_token`: the front-end filesystem token.
    pub fn fs_token(self) -> Token {
        // SAFETY: the token is embedded in the live mount.
        unsafe { Token::from_raw(ptr::addr_of_mut!((*self.p()).fs_token)) }
    }

    /// `TAILQ_EMPTY(&hmp->iorun_list)`.
    pub fn iorun_is_empty(self) -> bool {
        self.iorun_first().is_none()
    }

    /// `TAILQ_FIRST(&hmp->iorun_list)`.
    pub fn iorun_first(self) -> Option<Io> {
        // SAFETY: live mount; list members are live ios (callers hold
        // io_token).
        unsafe { Io::from_raw((*self.p()).iorun_list.tqh_first) }
    }

    /// `TAILQ_INSERT_TAIL(&hmp->iorun_list, io, iorun_entry)`.
    pub fn iorun_insert_tail(self, io: Io) {
        let e = io.as_ptr();
        // SAFETY: live mount and io, io not on the list; io_token held.
        unsafe {
            tailq_insert_tail(
                ptr::addr_of_mut!((*self.p()).iorun_list.tqh_last),
                e,
                ptr::addr_of_mut!((*e).iorun_entry.tqe_next),
                ptr::addr_of_mut!((*e).iorun_entry.tqe_prev),
            )
        }
    }

    /// `TAILQ_REMOVE(&hmp->iorun_list, io, iorun_entry)`.
    pub fn iorun_remove(self, io: Io) {
        let e = io.as_ptr();
        // SAFETY: live mount and io, io on the list; io_token held.
        unsafe {
            let next = (*e).iorun_entry.tqe_next;
            let prev = (*e).iorun_entry.tqe_prev;
            if !next.is_null()
                && (*next).iorun_entry.tqe_prev != ptr::addr_of_mut!((*e).iorun_entry.tqe_next)
            {
                kern::bad_list_link(
                    crate::cstr!("iorun successor does not point back"),
                    e.cast(),
                );
            }
            if prev.read() != e {
                kern::bad_list_link(
                    crate::cstr!("iorun predecessor does not point here"),
                    e.cast(),
                );
            }
            if !next.is_null() {
                (*next).iorun_entry.tqe_prev = prev;
            } else {
                (*self.p()).iorun_list.tqh_last = prev;
            }
            prev.write(next);
        }
    }

    /// `&hmp->volu_root`: modified volume headers.
    pub fn volu_root(self) -> ModTree {
        // SAFETY: embedded in the live mount.
        ModTree(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).volu_root)) })
    }

    /// `&hmp->meta_root`: modified meta-data buffers.
    pub fn meta_root(self) -> ModTree {
        // SAFETY: embedded in the live mount.
        ModTree(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).meta_root)) })
    }

    /// `&hmp->undo_root`: modified undo buffers.
    pub fn undo_root(self) -> ModTree {
        // SAFETY: embedded in the live mount.
        ModTree(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).undo_root)) })
    }

    /// `&hmp->data_root`: modified data buffers.
    pub fn data_root(self) -> ModTree {
        // SAFETY: embedded in the live mount.
        ModTree(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).data_root)) })
    }

    /// `&hmp->lose_root`: clean ios whose buffer the kernel took away.
    pub fn lose_root(self) -> ModTree {
        // SAFETY: embedded in the live mount.
        ModTree(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).lose_root)) })
    }

    /// `hmp->locked_dirty_space += delta` (plain; io_token held).
    pub fn locked_dirty_space_add(self, delta: c_long) {
        // SAFETY: live mount.
        unsafe { (*self.p()).locked_dirty_space += delta }
    }

    /// `atomic_add_long(&hmp->io_running_space, delta)`.
    pub fn io_running_space_add(self, delta: c_long) {
        // SAFETY: the counter is embedded in the live mount.
        unsafe { counters::atomic_add_long(ptr::addr_of_mut!((*self.p()).io_running_space), delta) }
    }

    /// `hmp->io_running_space`.
    pub fn io_running_space(self) -> c_long {
        // SAFETY: live mount.
        unsafe { (*self.p()).io_running_space }
    }

    /// `RB_MIN(hammer_vol_rb_tree, &hmp->rb_vols_root)`, i.e.
    /// `hammer_vol_rb_tree_RB_MINMAX(&hmp->rb_vols_root, RB_NEGINF)`.
    pub fn rb_vols_min(self) -> Option<Volume> {
        // SAFETY: the tree is embedded in the live mount; its members are
        // live volumes.
        unsafe {
            Volume::from_raw(ffi::hammer_vol_rb_tree_RB_MINMAX(
                ptr::addr_of_mut!((*self.p()).rb_vols_root),
                -1,
            ))
        }
    }
}

// ---------------------------------------------------------------------------
// struct hammer_io

macro_rules! io_bit {
    ($(#[$m:meta])* $get:ident, $set:ident, $raw_get:ident, $raw_set:ident) => {
        $(#[$m])*
        pub fn $get(self) -> bool {
            // SAFETY: live io; the bindgen accessor works on the raw
            // pointer and touches only the bits of this field.
            unsafe { ffi::hammer_io::$raw_get(self.as_ptr()) != 0 }
        }

        pub fn $set(self, on: bool) {
            // SAFETY: as above.
            unsafe { ffi::hammer_io::$raw_set(self.as_ptr(), u32::from(on)) }
        }
    };
}

impl Io {
    fn p(self) -> *mut ffi::hammer_io {
        self.0.as_ptr()
    }

    /// `io->type`.
    pub fn io_type(self) -> IoType {
        // SAFETY: live io.
        IoType(unsafe { (*self.p()).type_ })
    }

    pub fn set_io_type(self, ty: IoType) {
        // SAFETY: live io.
        unsafe { (*self.p()).type_ = ty.0 }
    }

    /// `io->hmp`.
    pub fn hmp(self) -> Mount {
        // SAFETY: an io belongs to a live mount.
        unsafe { Mount::from_raw_nonnull((*self.p()).hmp) }
    }

    /// `io->hmp` as stored, possibly NULL (copied, not dereferenced).
    pub fn hmp_raw(self) -> *mut ffi::hammer_mount {
        // SAFETY: live io.
        unsafe { (*self.p()).hmp }
    }

    /// `io->hmp = hmp` (the raw value, which may be NULL for an io that is
    /// being set up).
    pub fn set_hmp_raw(self, hmp: *mut ffi::hammer_mount) {
        // SAFETY: live io.
        unsafe { (*self.p()).hmp = hmp }
    }

    /// `io->volume`.
    pub fn volume(self) -> Volume {
        // SAFETY: an initialised io points at its live volume.
        unsafe { Volume::from_raw_nonnull((*self.p()).volume) }
    }

    pub fn set_volume(self, volume: Volume) {
        // SAFETY: live io.
        unsafe { (*self.p()).volume = volume.as_ptr() }
    }

    /// `io->bp`.
    pub fn bp(self) -> Option<Buf> {
        // SAFETY: live io; io->bp is NULL or the associated live buffer.
        unsafe { Buf::from_raw((*self.p()).bp) }
    }

    /// `io->bp` where the C code dereferences it unchecked.
    pub fn bp_nonnull(self) -> Buf {
        // SAFETY: as for `bp`.
        unsafe { Buf::from_raw_nonnull((*self.p()).bp) }
    }

    pub fn set_bp(self, bp: Option<Buf>) {
        let raw = bp.map_or(ptr::null_mut(), Buf::as_ptr);
        // SAFETY: live io.
        unsafe { (*self.p()).bp = raw }
    }

    /// `&io->bp`, for the read calls that store the buffer there.
    pub fn bp_slot(self) -> BufSlot {
        // SAFETY: the field is inside the live io.
        unsafe { BufSlot::from_raw(ptr::addr_of_mut!((*self.p()).bp)) }
    }

    /// `io->offset` (zone-2 offset, as the signed field it is).
    pub fn offset(self) -> i64 {
        // SAFETY: live io.
        unsafe { (*self.p()).offset }
    }

    /// `io->bytes`.
    pub fn bytes(self) -> c_int {
        // SAFETY: live io.
        unsafe { (*self.p()).bytes }
    }

    /// `io->modify_refs` (-1 while write-interlocked).
    pub fn modify_refs(self) -> c_int {
        // SAFETY: live io.
        unsafe { (*self.p()).modify_refs }
    }

    pub fn set_modify_refs(self, n: c_int) {
        // SAFETY: live io.
        unsafe { (*self.p()).modify_refs = n }
    }

    /// `io->mod_root`.
    pub fn mod_root(self) -> Option<ModTree> {
        // SAFETY: live io; mod_root is NULL or one of the mount's trees.
        unsafe { ModTree::from_raw((*self.p()).mod_root) }
    }

    pub fn set_mod_root(self, root: Option<ModTree>) {
        let raw = root.map_or(ptr::null_mut(), ModTree::as_ptr);
        // SAFETY: live io.
        unsafe { (*self.p()).mod_root = raw }
    }

    /// `&io->lock`.
    pub fn lock(self) -> HammerLock {
        // SAFETY: embedded in the live io.
        HammerLock(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).lock)) })
    }

    /// `&io->worklist`, the entry HAMMER hangs on `bp->b_dep`.
    pub(crate) fn worklist_ptr(self) -> *mut ffi::worklist {
        // SAFETY: only computes the address of a field of the live io.
        unsafe { ptr::addr_of_mut!((*self.p()).worklist) }
    }

    /// The wait channel of the io (its address), as used by
    /// `tsleep(io, ...)` / `wakeup(io)`.
    pub fn wait_chan(self) -> WaitChan {
        WaitChan::of(self.p())
    }

    /// `TAILQ_NEXT(io, iorun_entry)`.
    pub fn iorun_next(self) -> Option<Io> {
        // SAFETY: live io on the iorun list (io_token held).
        unsafe { Io::from_raw((*self.p()).iorun_entry.tqe_next) }
    }

    /// The io as the volume that embeds it (type HAMMER_STRUCTURE_VOLUME).
    pub fn as_volume(self) -> Volume {
        Volume(self.0.cast())
    }

    /// The io as the buffer that embeds it (any buffer type).
    pub fn as_buffer(self) -> Buffer {
        Buffer(self.0.cast())
    }

    io_bit!(
        /// `io->running`: a write is in flight.
        running, set_running, running_raw, set_running_raw
    );
    io_bit!(
        /// `io->waiting`: someone sleeps in `hammer_io_wait()`.
        waiting, set_waiting, waiting_raw, set_waiting_raw
    );
    io_bit!(
        /// `io->ioerror`: a write failed; holds an extra ref.
        ioerror, set_ioerror, ioerror_raw, set_ioerror_raw
    );
    io_bit!(
        /// `io->modified`: the buffer's data was changed.
        modified, set_modified, modified_raw, set_modified_raw
    );
    io_bit!(
        /// `io->released`: the bp is owned by the kernel, passively
        /// associated.
        released, set_released, released_raw, set_released_raw
    );
    io_bit!(
        /// `io->waitdep`: release must wait for running I/O.
        waitdep, set_waitdep, waitdep_raw, set_waitdep_raw
    );
    io_bit!(
        /// `io->waitmod`: someone waits for modify_refs to drain.
        waitmod, set_waitmod, waitmod_raw, set_waitmod_raw
    );
    io_bit!(
        /// `io->reclaim`: give the buffer back to the kernel for good.
        reclaim, set_reclaim, reclaim_raw, set_reclaim_raw
    );
    io_bit!(
        /// `io->gencrc`: B-Tree node CRCs are pending.
        gencrc, set_gencrc, gencrc_raw, set_gencrc_raw
    );
}

/// Runs `f` with a zeroed placemarker io of type HAMMER_STRUCTURE_DUMMY
/// living on this stack frame (`struct hammer_io iodummy; bzero(...)`).
///
/// The handle passed to `f` is only valid during the call and must be off
/// every list when `f` returns.
pub fn with_placemarker<R>(f: impl FnOnce(Io) -> R) -> R {
    let mut dummy = MaybeUninit::<ffi::hammer_io>::uninit();
    let p = dummy.as_mut_ptr();
    // SAFETY: `p` is this frame's storage for one hammer_io; all-zero is a
    // valid hammer_io (integers, NULL pointers, cleared bits).
    unsafe {
        kern::bzero(p.cast::<c_void>(), size_of::<ffi::hammer_io>());
        (*p).type_ = ffi::HAMMER_STRUCTURE_DUMMY;
    }
    // SAFETY: non-null stack address; `dummy` is not moved before return.
    let io = Io(unsafe { NonNull::new_unchecked(p) });
    f(io)
}

// ---------------------------------------------------------------------------
// struct hammer_volume / hammer_buffer / hammer_node

impl Volume {
    fn p(self) -> *mut ffi::hammer_volume {
        self.0.as_ptr()
    }

    /// `&volume->io`.
    pub fn io(self) -> Io {
        Io(self.0.cast())
    }

    /// `volume->vol_no`.
    pub fn vol_no(self) -> i32 {
        // SAFETY: live volume.
        unsafe { (*self.p()).vol_no }
    }

    /// `volume->maxbuf_off`.
    pub fn maxbuf_off(self) -> u64 {
        // SAFETY: live volume.
        unsafe { (*self.p()).maxbuf_off }
    }

    /// `volume->devvp`.
    pub fn devvp(self) -> Vnode {
        // SAFETY: the volume's open device vnode.
        unsafe { Vnode::from_raw((*self.p()).devvp) }
    }

    /// `volume->ondisk->vol_buf_beg`: where zone-2 buffers start on the
    /// device.
    pub fn vol_buf_beg(self) -> i64 {
        // SAFETY: live volume whose header is loaded (callers hold a ref).
        unsafe { (*(*self.p()).ondisk).vol_buf_beg }
    }

    /// `(intptr_t)volume->ondisk`.
    pub fn ondisk_addr(self) -> isize {
        // SAFETY: live volume.
        unsafe { (*self.p()).ondisk as isize }
    }

    /// `volume->ondisk = NULL`.
    pub fn clear_ondisk(self) {
        // SAFETY: live volume.
        unsafe { (*self.p()).ondisk = ptr::null_mut() }
    }

    /// `volume->vol_flags`.
    pub fn vol_flags(self) -> c_int {
        // SAFETY: live volume.
        unsafe { (*self.p()).vol_flags }
    }

    /// `atomic_set_int(&volume->vol_flags, bits)`.
    pub fn vol_flags_set(self, bits: c_int) {
        // SAFETY: the field is inside the live volume.
        unsafe { counters::atomic_set_int(ptr::addr_of_mut!((*self.p()).vol_flags), bits) }
    }

    /// `atomic_clear_int(&volume->vol_flags, bits)`.
    pub fn vol_flags_clear(self, bits: c_int) {
        // SAFETY: the field is inside the live volume.
        unsafe { counters::atomic_clear_int(ptr::addr_of_mut!((*self.p()).vol_flags), bits) }
    }

    /// `RB_NEXT(hammer_vol_rb_tree, ..., volume)`.
    pub fn rb_next(self) -> Option<Volume> {
        // SAFETY: live volume in the mount's volume tree.
        unsafe { Volume::from_raw(ffi::hammer_vol_rb_tree_RB_NEXT(self.p())) }
    }
}

impl Buffer {
    fn p(self) -> *mut ffi::hammer_buffer {
        self.0.as_ptr()
    }

    /// `&buffer->io`.
    pub fn io(self) -> Io {
        Io(self.0.cast())
    }

    /// `(intptr_t)buffer->ondisk`.
    pub fn ondisk_addr(self) -> isize {
        // SAFETY: live buffer.
        unsafe { (*self.p()).ondisk as isize }
    }

    /// `buffer->ondisk = NULL`.
    pub fn clear_ondisk(self) {
        // SAFETY: live buffer.
        unsafe { (*self.p()).ondisk = ptr::null_mut() }
    }

    /// `buffer->zoneX_offset`.
    pub fn zone_x_offset(self) -> u64 {
        // SAFETY: live buffer.
        unsafe { (*self.p()).zoneX_offset }
    }

    /// `buffer->zone2_offset`.
    pub fn zone2_offset(self) -> u64 {
        // SAFETY: live buffer.
        unsafe { (*self.p()).zone2_offset }
    }

    /// `TAILQ_FIRST(&buffer->clist)`: the B-Tree nodes backed by the
    /// buffer.
    pub fn clist_first(self) -> Option<Node> {
        // SAFETY: live buffer; clist members are live nodes.
        unsafe { Node::from_raw((*self.p()).clist.tqh_first) }
    }
}

/// Bytes of a B-Tree node covered by its CRC (`HAMMER_BTREE_CRCSIZE`):
/// everything after the leading `crc` field.
const BTREE_CRCSIZE: usize = size_of::<ffi::hammer_node_ondisk>() - size_of::<ffi::hammer_crc_t>();
const _: () = assert!(BTREE_CRCSIZE == ffi::HAMMER_BTREE_CRCSIZE);
const _: () = assert!(offset_of!(ffi::hammer_node_ondisk, crc) == 0);

impl Node {
    fn p(self) -> *mut ffi::hammer_node {
        self.0.as_ptr()
    }

    /// `node->flags`.
    pub fn flags(self) -> c_int {
        // SAFETY: live node.
        unsafe { (*self.p()).flags }
    }

    pub fn set_flags(self, flags: c_int) {
        // SAFETY: live node.
        unsafe { (*self.p()).flags = flags }
    }

    /// `TAILQ_NEXT(node, entry)` on the buffer's clist.
    pub fn clist_next(self) -> Option<Node> {
        // SAFETY: live node on a live clist.
        unsafe { Node::from_raw((*self.p()).entry.tqe_next) }
    }

    /// `node->ondisk != NULL`.
    pub fn has_ondisk(self) -> bool {
        // SAFETY: live node.
        unsafe { !(*self.p()).ondisk.is_null() }
    }

    /// `node->ondisk->crc = crc32(&node->ondisk->crc + 1,
    /// HAMMER_BTREE_CRCSIZE)`.
    pub fn finalize_crc(self) {
        // SAFETY: live node with its on-disk image mapped (checked by the
        // caller); the CRC covers the image after the crc field. The
        // buffer is held by the flusher, so the bytes are stable.
        unsafe {
            let ondisk = (*self.p()).ondisk;
            let crcp = ptr::addr_of_mut!((*ondisk).crc);
            let body =
                core::slice::from_raw_parts(crcp.add(1).cast::<u8>().cast_const(), BTREE_CRCSIZE);
            let crc = kern::crc32(body);
            crcp.write(crc);
        }
    }
}

// ---------------------------------------------------------------------------
// struct hammer_record / hammer_inode / leaf / transaction

impl Record {
    fn p(self) -> *mut ffi::hammer_record {
        self.0.as_ptr()
    }

    /// `&record->leaf`.
    pub fn leaf(self) -> Leaf {
        // SAFETY: embedded in the live record.
        Leaf(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).leaf)) })
    }

    /// `record->ip`.
    pub fn ip(self) -> Inode {
        // SAFETY: a record belongs to a live inode.
        unsafe { Inode::from_raw_nonnull((*self.p()).ip) }
    }

    /// `record->flags`.
    pub fn flags(self) -> c_int {
        // SAFETY: live record.
        unsafe { (*self.p()).flags }
    }

    pub fn set_flags(self, flags: c_int) {
        // SAFETY: live record.
        unsafe { (*self.p()).flags = flags }
    }

    /// `record->gflags` (HAMMER_RECG_*, changed under io_token).
    pub fn gflags(self) -> c_int {
        // SAFETY: live record.
        unsafe { (*self.p()).gflags }
    }

    pub fn set_gflags(self, gflags: c_int) {
        // SAFETY: live record.
        unsafe { (*self.p()).gflags = gflags }
    }

    /// `record->zone2_offset`.
    pub fn zone2_offset(self) -> u64 {
        // SAFETY: live record.
        unsafe { (*self.p()).zone2_offset }
    }

    pub fn set_zone2_offset(self, off: u64) {
        // SAFETY: live record.
        unsafe { (*self.p()).zone2_offset = off }
    }

    /// `&record->flags`, the channel direct-I/O waiters sleep on.
    pub fn flags_chan(self) -> WaitChan {
        // SAFETY: only computes a field address.
        WaitChan::of(unsafe { ptr::addr_of!((*self.p()).flags) })
    }
}

impl Inode {
    fn p(self) -> *mut ffi::hammer_inode {
        self.0.as_ptr()
    }

    /// `ip->hmp`.
    pub fn hmp(self) -> Mount {
        // SAFETY: an inode belongs to a live mount.
        unsafe { Mount::from_raw_nonnull((*self.p()).hmp) }
    }

    /// `ip->vp`, if the inode has a vnode attached.
    pub fn vp(self) -> Option<Vnode> {
        // SAFETY: live inode.
        let vp = unsafe { (*self.p()).vp };
        // SAFETY: a non-NULL ip->vp is the inode's live vnode.
        (!vp.is_null()).then(|| unsafe { Vnode::from_raw(vp) })
    }

    /// `&ip->lock`.
    pub fn lock(self) -> HammerLock {
        // SAFETY: embedded in the live inode.
        HammerLock(unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*self.p()).lock)) })
    }
}

impl Leaf {
    fn p(self) -> *mut ffi::hammer_btree_leaf_elm {
        self.0.as_ptr()
    }

    /// `leaf->base.rec_type`.
    pub fn rec_type(self) -> u16 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).base.rec_type }
    }

    /// `leaf->base.obj_id`.
    pub fn obj_id(self) -> i64 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).base.obj_id }
    }

    /// `leaf->base.key`.
    pub fn key(self) -> i64 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).base.key }
    }

    /// `leaf->base.localization`.
    pub fn localization(self) -> u32 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).base.localization }
    }

    /// `leaf->data_offset`.
    pub fn data_offset(self) -> u64 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).data_offset }
    }

    /// `leaf->data_len`.
    pub fn data_len(self) -> i32 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).data_len }
    }

    /// `leaf->data_crc`.
    pub fn data_crc(self) -> u32 {
        // SAFETY: live leaf.
        unsafe { (*self.p()).data_crc }
    }
}

impl Transaction {
    /// `trans->sync_lock_refs`.
    pub fn sync_lock_refs(self) -> c_int {
        // SAFETY: live transaction.
        unsafe { (*self.0.as_ptr()).sync_lock_refs }
    }
}

fn trans_raw(trans: Option<Transaction>) -> *mut ffi::hammer_transaction {
    trans.map_or(ptr::null_mut(), Transaction::as_ptr)
}

// ---------------------------------------------------------------------------
// struct hammer_lock (hammer_subs.c)

impl HammerLock {
    fn p(self) -> *mut ffi::hammer_lock {
        self.0.as_ptr()
    }

    /// `hammer_ref(lock)`.
    pub fn hammer_ref(self) {
        // SAFETY: live lock.
        unsafe { ffi::hammer_ref(self.p()) }
    }

    /// `hammer_rel(lock)`.
    pub fn hammer_rel(self) {
        // SAFETY: live lock.
        unsafe { ffi::hammer_rel(self.p()) }
    }

    /// `hammer_isactive(lock)`: whether any references are held (the ref
    /// count without its flag bits).
    pub fn hammer_isactive(self) -> bool {
        // SAFETY: live lock; refs is volatile in C, so read it as such.
        let refs = unsafe { ptr::addr_of!((*self.p()).refs).read_volatile() };
        refs & !ffi::HAMMER_REFS_FLAGS != 0
    }

    /// `hammer_lock_ex(lock)`, i.e. `hammer_lock_ex_ident(lock, "hmrlck")`.
    pub fn hammer_lock_ex(self) {
        // SAFETY: live lock; static identifier string.
        unsafe { ffi::hammer_lock_ex_ident(self.p(), c"hmrlck".as_ptr()) }
    }

    /// `hammer_unlock(lock)`.
    pub fn hammer_unlock(self) {
        // SAFETY: live lock held exclusively by this thread.
        unsafe { ffi::hammer_unlock(self.p()) }
    }

    /// `hammer_try_interlock_norefs(lock)`: true if the interlock was
    /// obtained (no refs, not interlocked).
    pub fn hammer_try_interlock_norefs(self) -> bool {
        // SAFETY: live lock.
        unsafe { ffi::hammer_try_interlock_norefs(self.p()) != 0 }
    }

    /// `hammer_put_interlock(lock, error)`.
    pub fn hammer_put_interlock(self, error: c_int) {
        // SAFETY: live lock interlocked by this thread.
        unsafe { ffi::hammer_put_interlock(self.p(), error) }
    }
}

// ---------------------------------------------------------------------------
// Modified-io trees (RB_GENERATE'd in this module, see crate::rbtree)

impl ModTree {
    /// `RB_INSERT(hammer_mod_rb_tree, root, io)`: `Some(existing)` if an io
    /// with the same key is already there (nothing inserted).
    pub fn rb_insert(self, io: Io) -> Option<Io> {
        // SAFETY: live tree of live ios (io_token held); `io` is not on a
        // tree and its volume is set (the key needs it).
        unsafe {
            Io::from_raw(ffi::hammer_mod_rb_tree_RB_INSERT(
                self.as_ptr(),
                io.as_ptr(),
            ))
        }
    }

    /// `RB_REMOVE(hammer_mod_rb_tree, root, io)`.
    pub fn rb_remove(self, io: Io) {
        // SAFETY: live tree containing `io` (io_token held).
        unsafe {
            ffi::hammer_mod_rb_tree_RB_REMOVE(self.as_ptr(), io.as_ptr());
        }
    }
}

// ---------------------------------------------------------------------------
// Calls into the rest of HAMMER

/// `hammer_critical_error(hmp, ip, error, msg)`.
pub fn hammer_critical_error(hmp: Mount, ip: Option<Inode>, error: c_int, msg: &'static CStr) {
    let ip = ip.map_or(ptr::null_mut(), Inode::as_ptr);
    // SAFETY: live mount, NULL or live inode, static message.
    unsafe { ffi::hammer_critical_error(hmp.as_ptr(), ip, error, msg.as_ptr()) }
}

/// `hammer_generate_undo(trans, zone_off, base, len)`.
pub fn hammer_generate_undo(
    trans: Option<Transaction>,
    zone_off: u64,
    base: DataPtr,
    len: c_int,
) -> c_int {
    // SAFETY: NULL or live transaction; `base` addresses `len` bytes of a
    // live buffer or volume header (DataPtr contract).
    unsafe { ffi::hammer_generate_undo(trans_raw(trans), zone_off, base.0, len) }
}

/// `hammer_blockmap_lookup(hmp, zone_off, &error)`: the zone-2 offset.
pub fn hammer_blockmap_lookup(hmp: Mount, zone_off: u64, error: &mut c_int) -> u64 {
    // SAFETY: live mount; `error` is a valid int.
    unsafe { ffi::hammer_blockmap_lookup(hmp.as_ptr(), zone_off, error) }
}

/// `hammer_get_volume(hmp, vol_no, &error)`: a referenced volume, or
/// `None` (with `error` set).
pub fn hammer_get_volume(hmp: Mount, vol_no: i32, error: &mut c_int) -> Option<Volume> {
    // SAFETY: live mount; the result is referenced until hammer_rel_volume.
    unsafe { Volume::from_raw(ffi::hammer_get_volume(hmp.as_ptr(), vol_no, error)) }
}

/// `hammer_rel_volume(volume, locked)`. Passes NULL through for `None`,
/// as the C code does after a failed `hammer_get_volume()`.
pub fn hammer_rel_volume(volume: Option<Volume>, locked: c_int) {
    let v = volume.map_or(ptr::null_mut(), Volume::as_ptr);
    // SAFETY: NULL or a volume referenced by the caller.
    unsafe { ffi::hammer_rel_volume(v, locked) }
}

/// `hammer_bread(hmp, off, &error, &buffer)` with `buffer` starting out
/// NULL: the data address, and the referenced buffer in `buffer`.
pub fn hammer_bread(
    hmp: Mount,
    off: u64,
    error: &mut c_int,
    buffer: &mut Option<Buffer>,
) -> DataPtr {
    let mut raw: *mut ffi::hammer_buffer = buffer.map_or(ptr::null_mut(), Buffer::as_ptr);
    // SAFETY: live mount; out-parameters are valid locals.
    let data = unsafe { ffi::hammer_bread(hmp.as_ptr(), off, error, &mut raw) };
    // SAFETY: the returned buffer, if any, is referenced for the caller.
    *buffer = unsafe { Buffer::from_raw(raw) };
    DataPtr(data)
}

/// `hammer_rel_buffer(buffer, locked)`.
pub fn hammer_rel_buffer(buffer: Option<Buffer>, locked: c_int) {
    let b = buffer.map_or(ptr::null_mut(), Buffer::as_ptr);
    // SAFETY: NULL or a buffer referenced by the caller.
    unsafe { ffi::hammer_rel_buffer(b, locked) }
}

/// `hammer_undo_reclaim(io)`.
pub fn hammer_undo_reclaim(io: Io) -> c_int {
    // SAFETY: live io.
    unsafe { ffi::hammer_undo_reclaim(io.as_ptr()) }
}

/// `hammer_sync_buffers(hmp, base_offset, bytes)`.
pub fn hammer_sync_buffers(hmp: Mount, base_offset: u64, bytes: c_int) {
    // SAFETY: live mount.
    unsafe { ffi::hammer_sync_buffers(hmp.as_ptr(), base_offset, bytes) }
}

/// `hammer_del_buffers(hmp, base_offset, zone2_offset, bytes,
/// report_conflicts)`.
pub fn hammer_del_buffers(
    hmp: Mount,
    base_offset: u64,
    zone2_offset: u64,
    bytes: c_int,
    report_conflicts: c_int,
) -> c_int {
    // SAFETY: live mount.
    unsafe {
        ffi::hammer_del_buffers(
            hmp.as_ptr(),
            base_offset,
            zone2_offset,
            bytes,
            report_conflicts,
        )
    }
}

/// `hammer_ip_replace_bulk(hmp, record)`.
pub fn hammer_ip_replace_bulk(hmp: Mount, record: Record) {
    // SAFETY: live mount and record.
    unsafe { ffi::hammer_ip_replace_bulk(hmp.as_ptr(), record.as_ptr()) }
}

/// `hammer_rel_mem_record(record)`.
pub fn hammer_rel_mem_record(record: Record) {
    // SAFETY: live record referenced by the caller.
    unsafe { ffi::hammer_rel_mem_record(record.as_ptr()) }
}

/// `hammer_get_vnode(ip, &vp)`: the inode's vnode, referenced and locked,
/// or the error.
pub fn hammer_get_vnode(ip: Inode, vp: &mut Option<Vnode>) -> c_int {
    let mut raw: *mut ffi::vnode = vp.map_or(ptr::null_mut(), Vnode::as_ptr);
    // SAFETY: live inode; `raw` is a valid out-parameter.
    let error = unsafe { ffi::hammer_get_vnode(ip.as_ptr(), &mut raw) };
    // SAFETY: on success the kernel hands back a live, referenced vnode.
    *vp = (!raw.is_null()).then(|| unsafe { Vnode::from_raw(raw) });
    error
}

/// `hammer_rel_inode(ip, flush)`.
pub fn hammer_rel_inode(ip: Inode, flush: c_int) {
    // SAFETY: live inode referenced by the caller.
    unsafe { ffi::hammer_rel_inode(ip.as_ptr(), flush) }
}

/// `hammer_rel_node(node)`.
pub fn hammer_rel_node(node: Node) {
    // SAFETY: live node referenced by the caller.
    unsafe { ffi::hammer_rel_node(node.as_ptr()) }
}

/// A `struct hammer_inode_info` built on the caller's stack.
pub struct InodeInfo(ffi::hammer_inode_info);

impl Default for InodeInfo {
    fn default() -> Self {
        // SAFETY: all-zero is a valid hammer_inode_info (integers and a
        // NULL pointer in the union).
        Self(unsafe { MaybeUninit::zeroed().assume_init() })
    }
}

impl InodeInfo {
    pub fn set_obj_id(&mut self, obj_id: i64) {
        self.0.obj_id = obj_id;
    }

    pub fn set_obj_asof(&mut self, asof: u64) {
        self.0.obj_asof = asof;
    }

    pub fn set_obj_localization(&mut self, loc: u32) {
        self.0.obj_localization = loc;
    }

    /// `iinfo.u.leaf = leaf`.
    pub fn set_leaf(&mut self, leaf: Leaf) {
        self.0.u.leaf = leaf.as_ptr();
    }
}

/// The `hammer_inode_info` a scan callback receives.
#[derive(Clone, Copy, Debug)]
pub struct InodeInfoRef(NonNull<ffi::hammer_inode_info>);

impl InodeInfoRef {
    /// `iinfo->u.leaf`.
    pub fn leaf(self) -> Leaf {
        // SAFETY: the scanner passes back the live InodeInfo it was given,
        // whose union holds the leaf stored by `set_leaf`.
        unsafe { Leaf::from_raw_nonnull((*self.0.as_ptr()).u.leaf) }
    }
}

/// A callback for [`hammer_scan_inode_snapshots`].
pub trait InodeScan {
    fn scan(ip: Inode, iinfo: InodeInfoRef) -> c_int;
}

c_callback_fn! {
    fn inode_scan_trampoline<T: InodeScan>(ip: ffi::hammer_inode_t, data: *mut c_void) -> c_int {
        // SAFETY: the scanner calls back with a live inode of the mount and
        // with the hammer_inode_info it was started with as `data`.
        let (ip, iinfo) = unsafe {
            (
                Inode::from_raw_nonnull(ip),
                InodeInfoRef(match NonNull::new(data.cast::<ffi::hammer_inode_info>()) {
                    Some(p) => p,
                    None => kern::null_handle(crate::cstr!("hammer_inode_info")),
                }),
            )
        };
        T::scan(ip, iinfo)
    }
}

/// `hammer_scan_inode_snapshots(hmp, &iinfo, <T's callback>, data)`.
pub fn hammer_scan_inode_snapshots<T: InodeScan>(hmp: Mount, iinfo: &mut InodeInfo, data: Leaf) {
    let callback = c_callback!(
        inode_scan_trampoline::<T>,
        fn(ffi::hammer_inode_t, *mut c_void) -> c_int
    );
    // SAFETY: live mount; `iinfo` outlives the synchronous scan; the
    // callback has the expected C type.
    unsafe {
        ffi::hammer_scan_inode_snapshots(
            hmp.as_ptr(),
            &mut iinfo.0,
            Some(callback),
            data.as_ptr().cast::<c_void>(),
        )
    }
}
