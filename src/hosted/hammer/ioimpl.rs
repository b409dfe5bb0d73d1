//! [`IoImpl`]: one implementation of hammer_io.c, as the table of its 37
//! exported symbols, and the process-wide "current implementation" that
//! the hosted HAMMER neighbours call.
//!
//! Two implementations exist: the C reference (`ref_*` symbols, compiled
//! by build.rs when the original file is available, cfg `hammer_reference`)
//! and the Rust port (the crate's own `#[no_mangle]` functions, cfg
//! `hammer_port`, which build.rs always sets). The neighbours
//! (`hammer_get_volume`, `hammer_rel_buffer`, `hammer_generate_undo`, ...)
//! never name either one: they go through [`current`], so the same
//! workload drives whichever implementation a test installed.

use core::ffi::{c_char, c_int, c_void};
use std::sync::RwLock;

use crate::rbtree::ScanFn;
use crate::sys::ffi;

/// `hammer_io_init`
pub type InitFn =
    unsafe extern "C-unwind" fn(ffi::hammer_io_t, ffi::hammer_volume_t, ffi::hammer_io_type);
/// `hammer_io_read`
pub type ReadFn = unsafe extern "C-unwind" fn(*mut ffi::vnode, *mut ffi::hammer_io, c_int) -> c_int;
/// `hammer_io_advance`, `hammer_io_wait`, `hammer_io_clear_modlist`,
/// `hammer_io_clear_error`, `hammer_io_clear_error_noassert`
pub type IoFn = unsafe extern "C-unwind" fn(*mut ffi::hammer_io);
/// `hammer_io_new`
pub type NewFn = unsafe extern "C-unwind" fn(*mut ffi::vnode, *mut ffi::hammer_io) -> c_int;
/// `hammer_io_inval`
pub type InvalFn = unsafe extern "C-unwind" fn(ffi::hammer_volume_t, ffi::hammer_off_t) -> c_int;
/// `hammer_io_release`
pub type ReleaseFn = unsafe extern "C-unwind" fn(*mut ffi::hammer_io, c_int) -> *mut ffi::buf;
/// `hammer_io_flush`, `hammer_io_clear_modify`
pub type IoIntFn = unsafe extern "C-unwind" fn(*mut ffi::hammer_io, c_int);
/// `hammer_io_wait_all`
pub type WaitAllFn = unsafe extern "C-unwind" fn(ffi::hammer_mount_t, *const c_char, c_int);
/// `hammer_io_direct_read`, `hammer_io_indirect_read`
pub type DirectReadFn = unsafe extern "C-unwind" fn(
    ffi::hammer_mount_t,
    *mut ffi::bio,
    ffi::hammer_btree_leaf_elm_t,
) -> c_int;
/// `hammer_io_direct_write`
pub type DirectWriteFn =
    unsafe extern "C-unwind" fn(ffi::hammer_mount_t, *mut ffi::bio, ffi::hammer_record_t) -> c_int;
/// `hammer_io_direct_wait`
pub type DirectWaitFn = unsafe extern "C-unwind" fn(ffi::hammer_record_t);
/// `hammer_io_direct_uncache`
pub type DirectUncacheFn =
    unsafe extern "C-unwind" fn(ffi::hammer_mount_t, ffi::hammer_btree_leaf_elm_t);
/// `hammer_io_write_interlock`, `hammer_io_done_interlock`
pub type InterlockFn = unsafe extern "C-unwind" fn(ffi::hammer_io_t);
/// `hammer_io_flush_sync`, `hammer_io_limit_backlog`
pub type MountFn = unsafe extern "C-unwind" fn(ffi::hammer_mount_t);
/// `hammer_io_notmeta`
pub type NotmetaFn = unsafe extern "C-unwind" fn(ffi::hammer_buffer_t);
/// `hammer_modify_volume`
pub type ModifyVolumeFn = unsafe extern "C-unwind" fn(
    ffi::hammer_transaction_t,
    ffi::hammer_volume_t,
    *mut c_void,
    c_int,
);
/// `hammer_modify_buffer`
pub type ModifyBufferFn = unsafe extern "C-unwind" fn(
    ffi::hammer_transaction_t,
    ffi::hammer_buffer_t,
    *mut c_void,
    c_int,
);
/// `hammer_modify_volume_done`
pub type ModifyVolumeDoneFn = unsafe extern "C-unwind" fn(ffi::hammer_volume_t);
/// `hammer_modify_buffer_done`
pub type ModifyBufferDoneFn = unsafe extern "C-unwind" fn(ffi::hammer_buffer_t);

type ModHead = ffi::hammer_mod_rb_tree;
type Io = ffi::hammer_io;
/// `hammer_mod_rb_tree_RB_INSERT_COLOR`
pub type ModInsertColorFn = unsafe extern "C-unwind" fn(*mut ModHead, *mut Io);
/// `hammer_mod_rb_tree_RB_REMOVE_COLOR`
pub type ModRemoveColorFn = unsafe extern "C-unwind" fn(*mut ModHead, *mut Io, *mut Io);
/// `hammer_mod_rb_tree_RB_REMOVE`, `_RB_INSERT`, `_RB_FIND`
pub type ModHeadIoFn = unsafe extern "C-unwind" fn(*mut ModHead, *mut Io) -> *mut Io;
/// `hammer_mod_rb_tree_RB_SCAN`
pub type ModScanFn =
    unsafe extern "C-unwind" fn(*mut ModHead, ScanFn<Io>, ScanFn<Io>, *mut c_void) -> c_int;
/// `hammer_mod_rb_tree_RB_NEXT`, `_RB_PREV`
pub type ModStepFn = unsafe extern "C-unwind" fn(*mut Io) -> *mut Io;
/// `hammer_mod_rb_tree_RB_MINMAX`
pub type ModMinmaxFn = unsafe extern "C-unwind" fn(*mut ModHead, c_int) -> *mut Io;

/// The 37 exports of one implementation of hammer_io.c.
#[derive(Clone, Copy)]
pub struct IoImpl {
    /// Human-readable name ("reference" or "rust").
    pub name: &'static str,
    /// `hammer_io_init`
    pub init: InitFn,
    /// `hammer_io_read`
    pub read: ReadFn,
    /// `hammer_io_advance`
    pub advance: IoFn,
    /// `hammer_io_new`
    pub new: NewFn,
    /// `hammer_io_inval`
    pub inval: InvalFn,
    /// `hammer_io_release`
    pub release: ReleaseFn,
    /// `hammer_io_flush`
    pub flush: IoIntFn,
    /// `hammer_io_wait`
    pub wait: IoFn,
    /// `hammer_io_wait_all`
    pub wait_all: WaitAllFn,
    /// `hammer_io_direct_read`
    pub direct_read: DirectReadFn,
    /// `hammer_io_indirect_read`
    pub indirect_read: DirectReadFn,
    /// `hammer_io_direct_write`
    pub direct_write: DirectWriteFn,
    /// `hammer_io_direct_wait`
    pub direct_wait: DirectWaitFn,
    /// `hammer_io_direct_uncache`
    pub direct_uncache: DirectUncacheFn,
    /// `hammer_io_write_interlock`
    pub write_interlock: InterlockFn,
    /// `hammer_io_done_interlock`
    pub done_interlock: InterlockFn,
    /// `hammer_io_clear_modify`
    pub clear_modify: IoIntFn,
    /// `hammer_io_clear_modlist`
    pub clear_modlist: IoFn,
    /// `hammer_io_flush_sync`
    pub flush_sync: MountFn,
    /// `hammer_io_clear_error`
    pub clear_error: IoFn,
    /// `hammer_io_clear_error_noassert`
    pub clear_error_noassert: IoFn,
    /// `hammer_io_notmeta`
    pub notmeta: NotmetaFn,
    /// `hammer_io_limit_backlog`
    pub limit_backlog: MountFn,
    /// `hammer_modify_volume`
    pub modify_volume: ModifyVolumeFn,
    /// `hammer_modify_buffer`
    pub modify_buffer: ModifyBufferFn,
    /// `hammer_modify_volume_done`
    pub modify_volume_done: ModifyVolumeDoneFn,
    /// `hammer_modify_buffer_done`
    pub modify_buffer_done: ModifyBufferDoneFn,
    /// `&hammer_bioops`: the callback table the implementation hangs on
    /// the buffers it owns.
    pub bioops: *mut ffi::bio_ops,
    /// `hammer_mod_rb_tree_RB_INSERT_COLOR`
    pub mod_insert_color: ModInsertColorFn,
    /// `hammer_mod_rb_tree_RB_REMOVE_COLOR`
    pub mod_remove_color: ModRemoveColorFn,
    /// `hammer_mod_rb_tree_RB_REMOVE`
    pub mod_remove: ModHeadIoFn,
    /// `hammer_mod_rb_tree_RB_INSERT`
    pub mod_insert: ModHeadIoFn,
    /// `hammer_mod_rb_tree_RB_FIND`
    pub mod_find: ModHeadIoFn,
    /// `hammer_mod_rb_tree_RB_SCAN`
    pub mod_scan: ModScanFn,
    /// `hammer_mod_rb_tree_RB_NEXT`
    pub mod_next: ModStepFn,
    /// `hammer_mod_rb_tree_RB_PREV`
    pub mod_prev: ModStepFn,
    /// `hammer_mod_rb_tree_RB_MINMAX`
    pub mod_minmax: ModMinmaxFn,
}

// SAFETY: the table holds function pointers and the address of a static
// (`hammer_bioops`), all valid for the whole program and usable from any
// thread; the kernel model serialises what the functions touch.
unsafe impl Send for IoImpl {}
// SAFETY: as above; the table itself is never mutated through `&IoImpl`.
unsafe impl Sync for IoImpl {}

impl core::fmt::Debug for IoImpl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IoImpl")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The exports of the C reference, renamed `ref_*` by build.rs. The
/// prototypes repeat the ones bindgen produced from hammer.h (`"C-unwind"`:
/// a kernel panic inside the reference unwinds to the test through its
/// frames, which are compiled with -fexceptions);
/// `reference_prototypes_match` checks that they agree.
#[cfg(hammer_reference)]
mod reference {
    use super::*;

    extern "C-unwind" {
        pub static mut ref_hammer_bioops: ffi::bio_ops;
        pub fn ref_hammer_io_init(
            io: ffi::hammer_io_t,
            volume: ffi::hammer_volume_t,
            type_: ffi::hammer_io_type,
        );
        pub fn ref_hammer_io_read(
            devvp: *mut ffi::vnode,
            io: *mut ffi::hammer_io,
            limit: c_int,
        ) -> c_int;
        pub fn ref_hammer_io_advance(io: *mut ffi::hammer_io);
        pub fn ref_hammer_io_new(devvp: *mut ffi::vnode, io: *mut ffi::hammer_io) -> c_int;
        pub fn ref_hammer_io_inval(
            volume: ffi::hammer_volume_t,
            zone2_offset: ffi::hammer_off_t,
        ) -> c_int;
        pub fn ref_hammer_io_release(io: *mut ffi::hammer_io, flush: c_int) -> *mut ffi::buf;
        pub fn ref_hammer_io_flush(io: *mut ffi::hammer_io, reclaim: c_int);
        pub fn ref_hammer_io_wait(io: *mut ffi::hammer_io);
        pub fn ref_hammer_io_wait_all(
            hmp: ffi::hammer_mount_t,
            ident: *const c_char,
            doflush: c_int,
        );
        pub fn ref_hammer_io_direct_read(
            hmp: ffi::hammer_mount_t,
            bio: *mut ffi::bio,
            leaf: ffi::hammer_btree_leaf_elm_t,
        ) -> c_int;
        pub fn ref_hammer_io_indirect_read(
            hmp: ffi::hammer_mount_t,
            bio: *mut ffi::bio,
            leaf: ffi::hammer_btree_leaf_elm_t,
        ) -> c_int;
        pub fn ref_hammer_io_direct_write(
            hmp: ffi::hammer_mount_t,
            bio: *mut ffi::bio,
            record: ffi::hammer_record_t,
        ) -> c_int;
        pub fn ref_hammer_io_direct_wait(record: ffi::hammer_record_t);
        pub fn ref_hammer_io_direct_uncache(
            hmp: ffi::hammer_mount_t,
            leaf: ffi::hammer_btree_leaf_elm_t,
        );
        pub fn ref_hammer_io_write_interlock(io: ffi::hammer_io_t);
        pub fn ref_hammer_io_done_interlock(io: ffi::hammer_io_t);
        pub fn ref_hammer_io_clear_modify(io: *mut ffi::hammer_io, inval: c_int);
        pub fn ref_hammer_io_clear_modlist(io: *mut ffi::hammer_io);
        pub fn ref_hammer_io_flush_sync(hmp: ffi::hammer_mount_t);
        pub fn ref_hammer_io_clear_error(io: *mut ffi::hammer_io);
        pub fn ref_hammer_io_clear_error_noassert(io: *mut ffi::hammer_io);
        pub fn ref_hammer_io_notmeta(buffer: ffi::hammer_buffer_t);
        pub fn ref_hammer_io_limit_backlog(hmp: ffi::hammer_mount_t);
        pub fn ref_hammer_modify_volume(
            trans: ffi::hammer_transaction_t,
            volume: ffi::hammer_volume_t,
            base: *mut c_void,
            len: c_int,
        );
        pub fn ref_hammer_modify_buffer(
            trans: ffi::hammer_transaction_t,
            buffer: ffi::hammer_buffer_t,
            base: *mut c_void,
            len: c_int,
        );
        pub fn ref_hammer_modify_volume_done(volume: ffi::hammer_volume_t);
        pub fn ref_hammer_modify_buffer_done(buffer: ffi::hammer_buffer_t);
        pub fn ref_hammer_mod_rb_tree_RB_INSERT_COLOR(head: *mut ModHead, elm: *mut Io);
        pub fn ref_hammer_mod_rb_tree_RB_REMOVE_COLOR(
            head: *mut ModHead,
            parent: *mut Io,
            elm: *mut Io,
        );
        pub fn ref_hammer_mod_rb_tree_RB_REMOVE(head: *mut ModHead, elm: *mut Io) -> *mut Io;
        pub fn ref_hammer_mod_rb_tree_RB_INSERT(head: *mut ModHead, elm: *mut Io) -> *mut Io;
        pub fn ref_hammer_mod_rb_tree_RB_FIND(head: *mut ModHead, elm: *mut Io) -> *mut Io;
        pub fn ref_hammer_mod_rb_tree_RB_SCAN(
            head: *mut ModHead,
            scancmp: ScanFn<Io>,
            callback: ScanFn<Io>,
            data: *mut c_void,
        ) -> c_int;
        pub fn ref_hammer_mod_rb_tree_RB_NEXT(elm: *mut Io) -> *mut Io;
        pub fn ref_hammer_mod_rb_tree_RB_PREV(elm: *mut Io) -> *mut Io;
        pub fn ref_hammer_mod_rb_tree_RB_MINMAX(head: *mut ModHead, val: c_int) -> *mut Io;
    }

    /// Compile-time proof that each hand-written `ref_*` prototype has the
    /// parameter and return types of the bound C prototype of the export
    /// it renames.
    #[allow(dead_code)]
    fn reference_prototypes_match() {
        use crate::hosted::hammer::sig::*;
        same3(ffi::hammer_io_init, ref_hammer_io_init);
        same3(ffi::hammer_io_read, ref_hammer_io_read);
        same1(ffi::hammer_io_advance, ref_hammer_io_advance);
        same2(ffi::hammer_io_new, ref_hammer_io_new);
        same2(ffi::hammer_io_inval, ref_hammer_io_inval);
        same2(ffi::hammer_io_release, ref_hammer_io_release);
        same2(ffi::hammer_io_flush, ref_hammer_io_flush);
        same1(ffi::hammer_io_wait, ref_hammer_io_wait);
        same3(ffi::hammer_io_wait_all, ref_hammer_io_wait_all);
        same3(ffi::hammer_io_direct_read, ref_hammer_io_direct_read);
        same3(ffi::hammer_io_indirect_read, ref_hammer_io_indirect_read);
        same3(ffi::hammer_io_direct_write, ref_hammer_io_direct_write);
        same1(ffi::hammer_io_direct_wait, ref_hammer_io_direct_wait);
        same2(ffi::hammer_io_direct_uncache, ref_hammer_io_direct_uncache);
        same1(
            ffi::hammer_io_write_interlock,
            ref_hammer_io_write_interlock,
        );
        same1(ffi::hammer_io_done_interlock, ref_hammer_io_done_interlock);
        same2(ffi::hammer_io_clear_modify, ref_hammer_io_clear_modify);
        same1(ffi::hammer_io_clear_modlist, ref_hammer_io_clear_modlist);
        same1(ffi::hammer_io_flush_sync, ref_hammer_io_flush_sync);
        same1(ffi::hammer_io_clear_error, ref_hammer_io_clear_error);
        same1(
            ffi::hammer_io_clear_error_noassert,
            ref_hammer_io_clear_error_noassert,
        );
        same1(ffi::hammer_io_notmeta, ref_hammer_io_notmeta);
        same1(ffi::hammer_io_limit_backlog, ref_hammer_io_limit_backlog);
        same4(ffi::hammer_modify_volume, ref_hammer_modify_volume);
        same4(ffi::hammer_modify_buffer, ref_hammer_modify_buffer);
        same1(
            ffi::hammer_modify_volume_done,
            ref_hammer_modify_volume_done,
        );
        same1(
            ffi::hammer_modify_buffer_done,
            ref_hammer_modify_buffer_done,
        );
        same2(
            ffi::hammer_mod_rb_tree_RB_INSERT_COLOR,
            ref_hammer_mod_rb_tree_RB_INSERT_COLOR,
        );
        same3(
            ffi::hammer_mod_rb_tree_RB_REMOVE_COLOR,
            ref_hammer_mod_rb_tree_RB_REMOVE_COLOR,
        );
        same2(
            ffi::hammer_mod_rb_tree_RB_REMOVE,
            ref_hammer_mod_rb_tree_RB_REMOVE,
        );
        same2(
            ffi::hammer_mod_rb_tree_RB_INSERT,
            ref_hammer_mod_rb_tree_RB_INSERT,
        );
        same2(
            ffi::hammer_mod_rb_tree_RB_FIND,
            ref_hammer_mod_rb_tree_RB_FIND,
        );
        same4(
            ffi::hammer_mod_rb_tree_RB_SCAN,
            ref_hammer_mod_rb_tree_RB_SCAN,
        );
        same1(
            ffi::hammer_mod_rb_tree_RB_NEXT,
            ref_hammer_mod_rb_tree_RB_NEXT,
        );
        same1(
            ffi::hammer_mod_rb_tree_RB_PREV,
            ref_hammer_mod_rb_tree_RB_PREV,
        );
        same2(
            ffi::hammer_mod_rb_tree_RB_MINMAX,
            ref_hammer_mod_rb_tree_RB_MINMAX,
        );
    }
}

impl IoImpl {
    /// The C reference (`ref_*`), available when build.rs found and
    /// compiled the original hammer_io.c.
    #[cfg(hammer_reference)]
    pub fn reference() -> IoImpl {
        use reference::*;
        IoImpl {
            name: "reference",
            init: ref_hammer_io_init,
            read: ref_hammer_io_read,
            advance: ref_hammer_io_advance,
            new: ref_hammer_io_new,
            inval: ref_hammer_io_inval,
            release: ref_hammer_io_release,
            flush: ref_hammer_io_flush,
            wait: ref_hammer_io_wait,
            wait_all: ref_hammer_io_wait_all,
            direct_read: ref_hammer_io_direct_read,
            indirect_read: ref_hammer_io_indirect_read,
            direct_write: ref_hammer_io_direct_write,
            direct_wait: ref_hammer_io_direct_wait,
            direct_uncache: ref_hammer_io_direct_uncache,
            write_interlock: ref_hammer_io_write_interlock,
            done_interlock: ref_hammer_io_done_interlock,
            clear_modify: ref_hammer_io_clear_modify,
            clear_modlist: ref_hammer_io_clear_modlist,
            flush_sync: ref_hammer_io_flush_sync,
            clear_error: ref_hammer_io_clear_error,
            clear_error_noassert: ref_hammer_io_clear_error_noassert,
            notmeta: ref_hammer_io_notmeta,
            limit_backlog: ref_hammer_io_limit_backlog,
            modify_volume: ref_hammer_modify_volume,
            modify_buffer: ref_hammer_modify_buffer,
            modify_volume_done: ref_hammer_modify_volume_done,
            modify_buffer_done: ref_hammer_modify_buffer_done,
            bioops: core::ptr::addr_of_mut!(ref_hammer_bioops),
            mod_insert_color: ref_hammer_mod_rb_tree_RB_INSERT_COLOR,
            mod_remove_color: ref_hammer_mod_rb_tree_RB_REMOVE_COLOR,
            mod_remove: ref_hammer_mod_rb_tree_RB_REMOVE,
            mod_insert: ref_hammer_mod_rb_tree_RB_INSERT,
            mod_find: ref_hammer_mod_rb_tree_RB_FIND,
            mod_scan: ref_hammer_mod_rb_tree_RB_SCAN,
            mod_next: ref_hammer_mod_rb_tree_RB_NEXT,
            mod_prev: ref_hammer_mod_rb_tree_RB_PREV,
            mod_minmax: ref_hammer_mod_rb_tree_RB_MINMAX,
        }
    }

    /// Whether the C reference is compiled in.
    pub const fn reference_available() -> bool {
        cfg!(hammer_reference)
    }

    /// The C reference if it is compiled in (integration tests do not see
    /// the library's cfgs, so they ask at run time).
    pub fn try_reference() -> Option<IoImpl> {
        #[cfg(hammer_reference)]
        return Some(IoImpl::reference());
        #[cfg(not(hammer_reference))]
        return None;
    }

    /// The Rust port: the crate's own `#[no_mangle]` exports, reached
    /// through the bindgen declarations of hammer.h (so their C types are
    /// checked by construction; in the hosted build every bound function
    /// has the `"C-unwind"` ABI, like the table).
    #[cfg(hammer_port)]
    pub fn rust() -> IoImpl {
        IoImpl {
            name: "rust",
            init: ffi::hammer_io_init,
            read: ffi::hammer_io_read,
            advance: ffi::hammer_io_advance,
            new: ffi::hammer_io_new,
            inval: ffi::hammer_io_inval,
            release: ffi::hammer_io_release,
            flush: ffi::hammer_io_flush,
            wait: ffi::hammer_io_wait,
            wait_all: ffi::hammer_io_wait_all,
            direct_read: ffi::hammer_io_direct_read,
            indirect_read: ffi::hammer_io_indirect_read,
            direct_write: ffi::hammer_io_direct_write,
            direct_wait: ffi::hammer_io_direct_wait,
            direct_uncache: ffi::hammer_io_direct_uncache,
            write_interlock: ffi::hammer_io_write_interlock,
            done_interlock: ffi::hammer_io_done_interlock,
            clear_modify: ffi::hammer_io_clear_modify,
            clear_modlist: ffi::hammer_io_clear_modlist,
            flush_sync: ffi::hammer_io_flush_sync,
            clear_error: ffi::hammer_io_clear_error,
            clear_error_noassert: ffi::hammer_io_clear_error_noassert,
            notmeta: ffi::hammer_io_notmeta,
            limit_backlog: ffi::hammer_io_limit_backlog,
            modify_volume: ffi::hammer_modify_volume,
            modify_buffer: ffi::hammer_modify_buffer,
            modify_volume_done: ffi::hammer_modify_volume_done,
            modify_buffer_done: ffi::hammer_modify_buffer_done,
            bioops: core::ptr::addr_of_mut!(ffi::hammer_bioops),
            mod_insert_color: ffi::hammer_mod_rb_tree_RB_INSERT_COLOR,
            mod_remove_color: ffi::hammer_mod_rb_tree_RB_REMOVE_COLOR,
            mod_remove: ffi::hammer_mod_rb_tree_RB_REMOVE,
            mod_insert: ffi::hammer_mod_rb_tree_RB_INSERT,
            mod_find: ffi::hammer_mod_rb_tree_RB_FIND,
            mod_scan: ffi::hammer_mod_rb_tree_RB_SCAN,
            mod_next: ffi::hammer_mod_rb_tree_RB_NEXT,
            mod_prev: ffi::hammer_mod_rb_tree_RB_PREV,
            mod_minmax: ffi::hammer_mod_rb_tree_RB_MINMAX,
        }
    }

    /// Whether the Rust port is compiled in (cfg `hammer_port`).
    pub const fn rust_available() -> bool {
        cfg!(hammer_port)
    }

    /// The Rust port if it is compiled in.
    pub fn try_rust() -> Option<IoImpl> {
        #[cfg(hammer_port)]
        return Some(IoImpl::rust());
        #[cfg(not(hammer_port))]
        return None;
    }

    /// Every implementation compiled into this build, reference first.
    pub fn available() -> std::vec::Vec<IoImpl> {
        [IoImpl::try_reference(), IoImpl::try_rust()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Installs this implementation as the current one.
    pub fn install(self) {
        set_current(Some(self));
    }
}

static CURRENT: RwLock<Option<IoImpl>> = RwLock::new(None);

/// Sets (or clears) the implementation the neighbours call.
pub fn set_current(imp: Option<IoImpl>) {
    *CURRENT.write().unwrap_or_else(|e| e.into_inner()) = imp;
}

/// The implementation the neighbours call.
///
/// # Panics
///
/// If no implementation was installed (see [`IoImpl::install`]).
pub fn current() -> IoImpl {
    CURRENT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .expect("no hammer_io implementation installed (IoImpl::install)")
}

/// The installed implementation, if any.
pub fn try_current() -> Option<IoImpl> {
    *CURRENT.read().unwrap_or_else(|e| e.into_inner())
}
