//! In-memory B-Tree nodes, inodes and records: the HAMMER objects the I/O
//! layer touches besides volumes and buffers.
//!
//! - nodes (hammer_ondisk.c): a `hammer_node` lives inside a meta buffer
//!   and sits on the buffer's `clist`; a modified node marked
//!   `HAMMER_NODE_NEEDSCRC` holds a node reference (and so a buffer
//!   reference) until `hammer_io_clear_modify` computes its CRC and calls
//!   `hammer_rel_node`;
//! - inodes (hammer_inode.c): identity, reference lock, front-end vnode
//!   (from the hosted kernel, so its buffers live in the hosted buffer
//!   cache) and the tree of in-memory records;
//! - records (hammer_object.c): bulk-data records used by direct writes,
//!   with `gflags` tracking the direct I/O.
//!
//! What the kernel does through the flusher and the B-Tree code (syncing
//! an inode's records to the B-Tree) is reduced to what these objects
//! need: committing an inode's records (see [`hammer_sync_inode_records`]).

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use std::boxed::Box;
use std::format;

use super::globals::{HAMMER_COUNT_INODES, HAMMER_COUNT_NODES, HAMMER_COUNT_RECORDS};
use super::ioimpl::current;
use super::lock::{self, hammer_lock_ex, hammer_ref, hammer_rel, hammer_unlock};
pub use super::ntrace::{
    hammer_get_vnode, hammer_ip_replace_bulk, hammer_rel_inode, hammer_rel_mem_record,
    hammer_rel_node, hammer_scan_inode_snapshots,
};
use super::off::BUFMASK64;
use super::ondisk::{hammer_get_buffer, hammer_ref_buffer, hammer_rel_buffer};
use super::queue::{tailq_first, tailq_init, tailq_insert_tail, tailq_remove};
use super::trees::{ino_lookup, nod_lookup, InoTree, NodTree, RecTree};
use super::{kassert, kpanic};
use crate::sys::ffi;

// ---------------------------------------------------------------------
// B-Tree nodes
// ---------------------------------------------------------------------

/// `HAMMER_BTREE_CRCSIZE`: bytes after the node's leading CRC.
pub const BTREE_CRCSIZE: usize =
    size_of::<ffi::hammer_node_ondisk>() - size_of::<ffi::hammer_crc_t>();

/// The CRC a node's content should carry.
///
/// # Safety
///
/// `ondisk` points to a readable node.
pub unsafe fn btree_crc(ondisk: *const ffi::hammer_node_ondisk) -> u32 {
    // SAFETY: the CRC covers the node after its first field, all readable.
    unsafe {
        ffi::crc32(
            (ondisk as *const u8).add(size_of::<ffi::hammer_crc_t>()) as *const c_void,
            BTREE_CRCSIZE,
        )
    }
}

/// `hammer_crc_test_btree`.
///
/// # Safety
///
/// `ondisk` points to a readable node.
pub unsafe fn hammer_crc_test_btree(ondisk: *const ffi::hammer_node_ondisk) -> bool {
    // SAFETY: caller contract.
    unsafe { (*ondisk).crc == btree_crc(ondisk) }
}

/// `hammer_get_node`: references the node at `node_offset` (B-Tree zone),
/// creating and loading it as needed. `isnew` skips the CRC check (a node
/// being allocated has none yet).
///
/// # Safety
///
/// `trans` is a live transaction of a live mount; `errorp` writable.
pub unsafe fn hammer_get_node(
    trans: ffi::hammer_transaction_t,
    node_offset: u64,
    isnew: bool,
    errorp: *mut c_int,
) -> ffi::hammer_node_t {
    kassert(
        node_offset & ffi::HAMMER_OFF_ZONE_MASK == ffi::HAMMER_ZONE_BTREE,
        "node_offset is in the B-Tree zone",
    );
    // SAFETY: caller contract; nodes are owned by the mount's node tree.
    unsafe {
        let hmp = (*trans).hmp;
        let nods = addr_of_mut!((*hmp).rb_nods_root);
        let mut node = nod_lookup(nods, node_offset);
        let doload = if node.is_null() {
            HAMMER_COUNT_NODES.fetch_add(1, Ordering::SeqCst);
            node = Box::into_raw(Box::<ffi::hammer_node>::new_zeroed().assume_init());
            (*node).node_offset = node_offset;
            (*node).hmp = hmp;
            tailq_init!(addr_of_mut!((*node).cursor_list));
            tailq_init!(addr_of_mut!((*node).cache_list));
            if !NodTree::insert(nods, node).is_null() {
                kpanic("hammer_get_node: duplicate node in the node tree");
            }
            lock::ref_interlock_true(addr_of_mut!((*node).lock));
            true
        } else {
            lock::ref_interlock(addr_of_mut!((*node).lock))
        };
        if doload {
            *errorp = load_node(trans, node, isnew);
            (*trans).flags |= ffi::HAMMER_TRANSF_DIDIO;
            if *errorp != 0 {
                return null_mut();
            }
        } else {
            kassert(!(*node).ondisk.is_null(), "node->ondisk");
            *errorp = 0;
            (current().advance)(addr_of_mut!((*(*node).buffer).io));
        }
        node
    }
}

/// `hammer_ref_node`: another reference on an already referenced node.
///
/// # Safety
///
/// `node` is live and referenced.
pub unsafe fn hammer_ref_node(node: ffi::hammer_node_t) {
    // SAFETY: caller contract.
    unsafe {
        kassert(
            lock::isactive(addr_of_mut!((*node).lock)) != 0 && !(*node).ondisk.is_null(),
            "node is referenced and loaded",
        );
        hammer_ref(addr_of_mut!((*node).lock));
    }
}

/// `hammer_load_node`: with a reference and the interlock, references the
/// backing buffer and points `ondisk` into it. `node->buffer` says whether
/// the node is on the buffer's clist, `node->ondisk` whether it holds a
/// buffer reference. Releases the interlock; on error also the reference.
///
/// # Safety
///
/// `node` live, referenced and interlocked.
unsafe fn load_node(
    trans: ffi::hammer_transaction_t,
    node: ffi::hammer_node_t,
    isnew: bool,
) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        let mut error = 0;
        if (*node).ondisk.is_null() {
            let mut buffer = (*node).buffer;
            if !buffer.is_null() {
                error = hammer_ref_buffer(buffer);
                if error == 0 && (*node).buffer.is_null() {
                    tailq_insert_tail!(addr_of_mut!((*buffer).clist), node, entry);
                    (*node).buffer = buffer;
                }
            } else {
                let buf_offset = (*node).node_offset & !BUFMASK64;
                buffer = hammer_get_buffer(
                    (*node).hmp,
                    buf_offset,
                    ffi::HAMMER_BUFSIZE,
                    false,
                    &mut error,
                );
                if !buffer.is_null() {
                    kassert(error == 0, "error == 0");
                    tailq_insert_tail!(addr_of_mut!((*buffer).clist), node, entry);
                    (*node).buffer = buffer;
                }
            }
            if error == 0 {
                (*node).ondisk = ((*buffer).ondisk as *mut u8)
                    .add(((*node).node_offset & BUFMASK64) as usize)
                    as *mut ffi::hammer_node_ondisk;
                if !isnew && (*node).flags & ffi::HAMMER_NODE_CRCANY == 0 {
                    if hammer_crc_test_btree((*node).ondisk) {
                        (*node).flags |= ffi::HAMMER_NODE_CRCGOOD;
                    } else {
                        (*node).flags |= ffi::HAMMER_NODE_CRCBAD;
                    }
                }
            }
        }
        if error == 0 && (*node).flags & ffi::HAMMER_NODE_CRCBAD != 0 {
            error = if (*trans).flags & ffi::HAMMER_TRANSF_CRCDOM != 0 {
                ffi::EDOM
            } else {
                ffi::EIO
            };
        }
        if error != 0 {
            rel_node(node, true);
        } else {
            lock::ref_interlock_done(addr_of_mut!((*node).lock));
        }
        error
    }
}

/// `_hammer_rel_node`: drops a reference (with `locked`, the caller holds
/// the interlock: failure/unload path). On the last one the buffer
/// reference goes too, unless the node still owes a CRC
/// (`HAMMER_NODE_NEEDSCRC`); the node stays cached on the buffer's clist
/// unless marked `HAMMER_NODE_FLUSH`.
///
/// # Safety
///
/// `node` is live and referenced.
unsafe fn rel_node(node: ffi::hammer_node_t, locked: bool) {
    // SAFETY: caller contract.
    unsafe {
        let lk = addr_of_mut!((*node).lock);
        if !lock::rel_interlock(lk, locked) {
            return;
        }
        if (*node).ondisk.is_null() {
            hammer_flush_node(node, locked as c_int + 1);
            return;
        }
        if (*node).flags & ffi::HAMMER_NODE_NEEDSCRC != 0 {
            lock::rel_interlock_done(lk, locked);
            return;
        }
        let buffer = (*node).buffer;
        (*node).ondisk = null_mut();
        if (*node).flags & ffi::HAMMER_NODE_FLUSH == 0 {
            lock::rel_interlock_done(lk, locked);
        } else {
            hammer_flush_node(node, locked as c_int + 1);
        }
        hammer_rel_buffer(buffer, 0);
    }
}

/// `hammer_rel_node`.
///
/// # Safety
///
/// `node` is live and referenced.
/// Untraced body of the C entry point `hammer_rel_node` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_node_untraced(node: ffi::hammer_node_t) {
    // SAFETY: forwarded contract.
    unsafe { rel_node(node, false) }
}

/// `hammer_flush_node`: drops the node's passive cache links and destroys
/// it if it has neither references nor buffer data. `locked` 1 or 2: also
/// release the interlock (as `hammer_rel_interlock_done(lock, locked-1)`).
///
/// # Safety
///
/// `node` is live.
pub unsafe fn hammer_flush_node(node: ffi::hammer_node_t, locked: c_int) {
    // SAFETY: caller contract.
    unsafe {
        let hmp = (*node).hmp;
        // Passive caches (hammer_node_cache) are not created by the hosted
        // model, so the cache list is always empty here.
        kassert(
            tailq_first!(addr_of_mut!((*node).cache_list)).is_null(),
            "node cache list is empty",
        );
        let dofree = if (*node).ondisk.is_null() && lock::norefs(addr_of_mut!((*node).lock)) {
            kassert(
                (*node).flags & ffi::HAMMER_NODE_NEEDSCRC == 0,
                "!(node->flags & NEEDSCRC)",
            );
            NodTree::remove(addr_of_mut!((*hmp).rb_nods_root), node);
            let buffer = (*node).buffer;
            if !buffer.is_null() {
                (*node).buffer = null_mut();
                tailq_remove!(addr_of_mut!((*buffer).clist), node, entry);
            }
            true
        } else {
            false
        };
        if locked != 0 {
            lock::rel_interlock_done(addr_of_mut!((*node).lock), locked - 1 != 0);
        }
        if dofree {
            HAMMER_COUNT_NODES.fetch_sub(1, Ordering::SeqCst);
            drop(Box::from_raw(node));
        }
    }
}

/// `hammer_flush_buffer_nodes`: the buffer is going away; destroy the
/// nodes cached on it (none is referenced: that would reference the
/// buffer), or just unlink the ones somebody has interlocked.
///
/// # Safety
///
/// `buffer` is live and about to be destroyed or unloaded.
pub unsafe fn hammer_flush_buffer_nodes(buffer: ffi::hammer_buffer_t) {
    // SAFETY: caller contract; nodes on the clist are live.
    unsafe {
        loop {
            let node = tailq_first!(addr_of_mut!((*buffer).clist));
            if node.is_null() {
                break;
            }
            kassert((*node).ondisk.is_null(), "node->ondisk == NULL");
            kassert(
                (*node).flags & ffi::HAMMER_NODE_NEEDSCRC == 0,
                "!(node->flags & NEEDSCRC)",
            );
            if lock::hammer_try_interlock_norefs(addr_of_mut!((*node).lock)) != 0 {
                hammer_ref(addr_of_mut!((*node).lock));
                (*node).flags |= ffi::HAMMER_NODE_FLUSH;
                rel_node(node, true);
            } else {
                let b = (*node).buffer;
                kassert(!b.is_null(), "node->buffer != NULL");
                (*node).buffer = null_mut();
                tailq_remove!(addr_of_mut!((*b).clist), node, entry);
            }
        }
    }
}

/// `hammer_modify_node_all`: announces a modification of the whole node
/// (with an UNDO of it).
///
/// # Safety
///
/// `node` is live and referenced; `trans` as for `hammer_modify_buffer`.
pub unsafe fn hammer_modify_node_all(trans: ffi::hammer_transaction_t, node: ffi::hammer_node_t) {
    // SAFETY: caller contract.
    unsafe {
        kassert(
            (*node).flags & ffi::HAMMER_NODE_CRCBAD == 0,
            "!(node->flags & CRCBAD)",
        );
        (current().modify_buffer)(
            trans,
            (*node).buffer,
            (*node).ondisk as *mut c_void,
            size_of::<ffi::hammer_node_ondisk>() as c_int,
        );
    }
}

/// `hammer_modify_node_noundo`: announces a modification without UNDO
/// (a node that is being created).
///
/// # Safety
///
/// As for [`hammer_modify_node_all`].
pub unsafe fn hammer_modify_node_noundo(
    trans: ffi::hammer_transaction_t,
    node: ffi::hammer_node_t,
) {
    // SAFETY: caller contract.
    unsafe {
        kassert(
            (*node).flags & ffi::HAMMER_NODE_CRCBAD == 0,
            "!(node->flags & CRCBAD)",
        );
        (current().modify_buffer)(trans, (*node).buffer, null_mut(), 0);
    }
}

/// `hammer_modify_node_done`: the modification is complete. The CRC is
/// not computed now but when the buffer is next flushed: the node gets
/// `NEEDSCRC` plus a reference, and its buffer `gencrc`.
///
/// # Safety
///
/// `node` is live, referenced, and was announced modified.
pub unsafe fn hammer_modify_node_done(node: ffi::hammer_node_t) {
    // SAFETY: caller contract.
    unsafe {
        (*node).flags |= ffi::HAMMER_NODE_CRCGOOD;
        if (*node).flags & ffi::HAMMER_NODE_NEEDSCRC == 0 {
            (*node).flags |= ffi::HAMMER_NODE_NEEDSCRC;
            (*(*node).buffer).io.set_gencrc(1);
            hammer_ref_node(node);
        }
        (current().modify_buffer_done)((*node).buffer);
    }
}

// ---------------------------------------------------------------------
// Inodes
// ---------------------------------------------------------------------

/// Creates an in-memory inode (as `hammer_get_inode` does for an inode it
/// does not find), with one reference for the caller, and enters it in
/// the mount's inode tree. Returns null if that identity already exists.
///
/// # Safety
///
/// `hmp` is a live mount.
pub unsafe fn hammer_create_inode(
    hmp: ffi::hammer_mount_t,
    obj_id: i64,
    asof: u64,
    localization: u32,
) -> ffi::hammer_inode_t {
    // SAFETY: caller contract; the inode is owned by the mount's tree.
    unsafe {
        if !ino_lookup(
            addr_of_mut!((*hmp).rb_inos_root),
            localization,
            obj_id,
            asof,
        )
        .is_null()
        {
            return null_mut();
        }
        let ip = Box::into_raw(Box::<ffi::hammer_inode>::new_zeroed().assume_init());
        (*ip).obj_id = obj_id;
        (*ip).obj_asof = asof;
        (*ip).obj_localization = localization;
        (*ip).hmp = hmp;
        (*ip).flags = inode_flags::ONDISK;
        (*ip).ino_leaf.base.obj_id = obj_id;
        (*ip).ino_leaf.base.localization = localization;
        RecTree::init(addr_of_mut!((*ip).rec_tree));
        tailq_init!(addr_of_mut!((*ip).target_list));
        hammer_ref(addr_of_mut!((*ip).lock));
        let dup = InoTree::insert(addr_of_mut!((*hmp).rb_inos_root), ip);
        kassert(dup.is_null(), "no duplicate inode");
        (*hmp).count_inodes += 1;
        HAMMER_COUNT_INODES.fetch_add(1, Ordering::SeqCst);
        ip
    }
}

/// Size of the VM object behind a hosted file vnode (its largest file).
pub const FILE_VNODE_SIZE: u64 = 64 << 20;

/// `hammer_get_vnode`: returns the inode's front-end vnode, locked and
/// referenced, creating it on first use (the vnode then holds a reference
/// on the inode, dropped by [`hammer_reclaim_vnode`]).
///
/// # Safety
///
/// `ip` is a live, referenced inode; `vpp` writable.
/// Untraced body of the C entry point `hammer_get_vnode` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_get_vnode_untraced(
    ip: *mut ffi::hammer_inode,
    vpp: *mut *mut ffi::vnode,
) -> c_int {
    // SAFETY: caller contract; the hosted kernel's vnodes stay valid
    // until reclaimed.
    unsafe {
        loop {
            let vp = (*ip).vp;
            if vp.is_null() {
                let nvp = crate::hosted::kern::vnode_new(
                    &format!("hammer-ino-{}", (*ip).obj_id),
                    FILE_VNODE_SIZE,
                );
                hammer_lock_ex(addr_of_mut!((*ip).lock));
                if !(*ip).vp.is_null() {
                    hammer_unlock(addr_of_mut!((*ip).lock));
                    // The kernel would mark the spare vnode VBAD and put it;
                    // the hosted machine frees its vnodes at shutdown.
                    super::kcall::vrele(nvp);
                    continue;
                }
                hammer_ref(addr_of_mut!((*ip).lock));
                (*ip).vp = nvp;
                (*nvp).v_data = ip as *mut c_void;
                hammer_unlock(addr_of_mut!((*ip).lock));
                // A fresh vnode comes back locked and referenced.
                *vpp = nvp;
                return 0;
            }
            hammer_lock_ex(addr_of_mut!((*ip).lock));
            if (*ip).vp.is_null() {
                hammer_unlock(addr_of_mut!((*ip).lock));
                continue;
            }
            hammer_unlock(addr_of_mut!((*ip).lock));
            // vget: the hosted vnodes have no lock to speak of, a
            // reference is what keeps one from being reclaimed.
            super::kcall::vref(vp);
            if vp == (*ip).vp {
                *vpp = vp;
                return 0;
            }
            super::kcall::vrele(vp);
        }
    }
}

/// Reclaims the inode's vnode (what `hammer_vop_reclaim` does when the
/// kernel recycles it): detaches it and drops the reference it held.
///
/// # Safety
///
/// `ip` is live; its vnode, if any, is unlocked and unreferenced.
pub unsafe fn hammer_reclaim_vnode(ip: ffi::hammer_inode_t) {
    // SAFETY: caller contract.
    unsafe {
        let vp = (*ip).vp;
        if vp.is_null() {
            return;
        }
        (*ip).vp = null_mut();
        (*vp).v_data = null_mut();
        hammer_rel_inode(ip, 0);
    }
}

/// Inode flag values of hammer.h (the hosted header does not carry them).
pub mod inode_flags {
    use core::ffi::c_int;
    /// `HAMMER_INODE_DDIRTY`: in-memory inode data is dirty.
    pub const DDIRTY: c_int = 0x0001;
    /// `HAMMER_INODE_XDIRTY`: in-memory records are pending.
    pub const XDIRTY: c_int = 0x0008;
    /// `HAMMER_INODE_ONDISK`: the inode exists on the media.
    pub const ONDISK: c_int = 0x0010;
    /// `HAMMER_INODE_RECSW`: a writer waits for records to drain.
    pub const RECSW: c_int = 0x0400;
    /// `HAMMER_INODE_BUFS`: dirty front-end buffers exist.
    pub const BUFS: c_int = 0x1000;
    /// `HAMMER_INODE_TRUNCATED`
    pub const TRUNCATED: c_int = 0x0001_0000;
    /// `HAMMER_INODE_DELETING`
    pub const DELETING: c_int = 0x0002_0000;
    /// `HAMMER_INODE_ATIME`
    pub const ATIME: c_int = 0x0010_0000;
    /// `HAMMER_INODE_MTIME`
    pub const MTIME: c_int = 0x0020_0000;
    /// `HAMMER_INODE_SDIRTY`
    pub const SDIRTY: c_int = 0x0100_0000;
    /// `HAMMER_INODE_MODMASK`: something must still reach the media.
    pub const MODMASK: c_int =
        DDIRTY | SDIRTY | XDIRTY | BUFS | ATIME | MTIME | TRUNCATED | DELETING;
}
use inode_flags::MODMASK as INODE_MODMASK;

/// `hammer_rel_inode`: drops a reference. The last one needs the inode to
/// be clean: dirty in-memory records are first committed (the hosted
/// stand-in for queueing the inode to the flusher), then the inode is
/// unloaded.
///
/// # Safety
///
/// `ip` is a live, referenced inode.
/// Untraced body of the C entry point `hammer_rel_inode` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_inode_untraced(
    ip: ffi::hammer_inode_t,
    flush: c_int,
) {
    // SAFETY: caller contract.
    unsafe {
        let lk = addr_of_mut!((*ip).lock);
        loop {
            if lock::oneref(lk) {
                kassert((*ip).vp.is_null(), "ip->vp == NULL");
                if (*ip).flags & INODE_MODMASK != 0 {
                    hammer_sync_inode_records(ip);
                } else if lock::oneref(lk) {
                    unload_inode(ip);
                    break;
                }
            } else {
                if flush != 0 {
                    hammer_sync_inode_records(ip);
                }
                kassert(lock::isactive(lk) >= 1, "hammer_isactive(&ip->lock) >= 1");
                if lock::isactive(lk) > 1 {
                    hammer_rel(lk);
                    break;
                }
            }
        }
    }
}

/// `hammer_unload_inode`: destroys a clean inode with one reference left.
///
/// # Safety
///
/// `ip` is live, clean, has exactly one reference and no vnode.
unsafe fn unload_inode(ip: ffi::hammer_inode_t) {
    // SAFETY: caller contract.
    unsafe {
        let hmp = (*ip).hmp;
        kassert(lock::oneref(addr_of_mut!((*ip).lock)), "one reference");
        kassert(
            RecTree::is_empty(addr_of_mut!((*ip).rec_tree)),
            "RB_EMPTY(&ip->rec_tree)",
        );
        hammer_rel(addr_of_mut!((*ip).lock));
        InoTree::remove(addr_of_mut!((*hmp).rb_inos_root), ip);
        (*hmp).count_inodes -= 1;
        HAMMER_COUNT_INODES.fetch_sub(1, Ordering::SeqCst);
        drop(Box::from_raw(ip));
    }
}

/// The hosted stand-in for flushing an inode's records to the B-Tree:
/// every live record is marked committed and released, which (through
/// `hammer_rel_mem_record`) waits for its direct I/O and destroys it once
/// unreferenced; then the inode is clean.
///
/// # Safety
///
/// `ip` is a live, referenced inode.
pub unsafe fn hammer_sync_inode_records(ip: ffi::hammer_inode_t) {
    // SAFETY: caller contract; records in the tree are live, and each is
    // referenced while we work on it.
    unsafe {
        loop {
            let rec = first_live_record(ip);
            if rec.is_null() {
                break;
            }
            hammer_ref(addr_of_mut!((*rec).lock));
            (*rec).flags |= ffi::HAMMER_RECF_COMMITTED;
            hammer_rel_mem_record(rec);
        }
        (*ip).flags &= !(INODE_MODMASK | inode_flags::RECSW);
        (*ip).sync_flags &= !INODE_MODMASK;
    }
}

/// First record of the inode that is neither deleted nor committed.
///
/// # Safety
///
/// `ip` is live.
unsafe fn first_live_record(ip: ffi::hammer_inode_t) -> ffi::hammer_record_t {
    // SAFETY: caller contract.
    unsafe {
        let mut rec = RecTree::min(addr_of_mut!((*ip).rec_tree));
        while !rec.is_null() && (*rec).flags & REC_GONE != 0 {
            rec = RecTree::next(rec);
        }
        rec
    }
}

/// Unmount-time: reclaims the vnodes of the remaining inodes, which drops
/// the references those held, and checks that no inode is left (the
/// kernel asserts the same before freeing the mount).
///
/// # Safety
///
/// `hmp` is a live mount whose inodes nobody else references.
pub unsafe fn destroy_all_inodes(hmp: ffi::hammer_mount_t) {
    // SAFETY: caller contract; the scan tolerates the callback destroying
    // the inode it was given.
    unsafe {
        InoTree::scan_with(
            addr_of_mut!((*hmp).rb_inos_root),
            |_| 0,
            |ip| {
                hammer_reclaim_vnode(ip);
                0
            },
        );
        kassert(
            InoTree::is_empty(addr_of_mut!((*hmp).rb_inos_root)),
            "RB_EMPTY(&hmp->rb_inos_root)",
        );
    }
}

/// `hammer_inode_info_cmp_all_history`: orders inodes against a key by
/// localization and object id only, so every as-of version matches.
///
/// # Safety
///
/// `ip` and `info` are live.
unsafe fn info_cmp_all_history(ip: ffi::hammer_inode_t, info: ffi::hammer_inode_info_t) -> c_int {
    // SAFETY: caller contract.
    let (a, b) = unsafe {
        (
            ((*ip).obj_localization, (*ip).obj_id),
            ((*info).obj_localization, (*info).obj_id),
        )
    };
    match a.cmp(&b) {
        core::cmp::Ordering::Less => -1,
        core::cmp::Ordering::Equal => 0,
        core::cmp::Ordering::Greater => 1,
    }
}

/// `hammer_scan_inode_snapshots`: calls `callback` on every in-memory
/// version of the object `iinfo` names. Like the kernel, the callback's
/// data argument is `iinfo` itself, not `data`.
///
/// # Safety
///
/// `hmp` and `iinfo` are live; `callback` is safe to call on any inode of
/// the mount with `iinfo`.
/// Untraced body of the C entry point `hammer_scan_inode_snapshots` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_scan_inode_snapshots_untraced(
    hmp: ffi::hammer_mount_t,
    iinfo: ffi::hammer_inode_info_t,
    callback: Option<
        unsafe extern "C-unwind" fn(ip: ffi::hammer_inode_t, data: *mut c_void) -> c_int,
    >,
    _data: *mut c_void,
) {
    let callback = callback.expect("hammer_scan_inode_snapshots: no callback");
    // SAFETY: caller contract; the scan tolerates the callback releasing
    // (and so possibly destroying) the inode it was given.
    unsafe {
        InoTree::scan_with(
            addr_of_mut!((*hmp).rb_inos_root),
            |ip| info_cmp_all_history(ip, iinfo),
            |ip| callback(ip, iinfo as *mut c_void),
        );
    }
}

// ---------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------

/// Flags of a record that no longer takes part in lookups.
const REC_GONE: c_int =
    ffi::HAMMER_RECF_DELETED_FE | ffi::HAMMER_RECF_DELETED_BE | ffi::HAMMER_RECF_COMMITTED;

/// `hammer_alloc_mem_record`: a new record of `ip` with one reference.
/// In-memory record data is not modelled (`data_len` must be 0: bulk
/// records point at media data).
///
/// # Safety
///
/// `ip` is a live, referenced inode.
pub unsafe fn hammer_alloc_mem_record(
    ip: ffi::hammer_inode_t,
    data_len: c_int,
) -> ffi::hammer_record_t {
    kassert(data_len == 0, "hosted records carry no in-memory data");
    HAMMER_COUNT_RECORDS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: a fresh allocation; `ip` is live (caller contract).
    unsafe {
        let record = Box::into_raw(Box::<ffi::hammer_record>::new_zeroed().assume_init());
        (*record).flush_state = ffi::HAMMER_FST_IDLE;
        (*record).ip = ip;
        (*record).leaf.base.btype = ffi::HAMMER_BTREE_TYPE_RECORD;
        (*record).leaf.data_len = data_len;
        hammer_ref(addr_of_mut!((*record).lock));
        record
    }
}

/// `hammer_ip_add_bulk` without the blockmap reservation: a DATA record
/// covering `file_offset..file_offset+bytes` of `ip`, whose data lives at
/// `data_offset` (large-data zone for full buffers). One reference for
/// the caller; not yet in the inode's tree (`hammer_ip_replace_bulk` puts
/// it there).
///
/// # Safety
///
/// `ip` is a live, referenced inode; `data` is null or `bytes` readable
/// bytes (for the data CRC).
pub unsafe fn hammer_ip_add_bulk(
    ip: ffi::hammer_inode_t,
    file_offset: i64,
    data: *const c_void,
    bytes: c_int,
    data_offset: u64,
) -> ffi::hammer_record_t {
    // SAFETY: caller contract.
    unsafe {
        let record = hammer_alloc_mem_record(ip, 0);
        let crc = if bytes == 0 || data.is_null() {
            0
        } else {
            ffi::crc32(data, bytes as usize)
        };
        (*record).type_ = ffi::HAMMER_MEM_RECORD_DATA;
        (*record).leaf.base.rec_type = ffi::HAMMER_RECTYPE_DATA;
        (*record).leaf.base.obj_type = (*ip).ino_leaf.base.obj_type;
        (*record).leaf.base.obj_id = (*ip).obj_id;
        (*record).leaf.base.key = file_offset + bytes as i64;
        (*record).leaf.base.localization = (*ip).obj_localization + ffi::HAMMER_LOCALIZE_MISC;
        (*record).leaf.data_offset = data_offset;
        (*record).leaf.data_len = bytes;
        (*record).leaf.data_crc = crc;
        record
    }
}

/// `hammer_ip_get_bulk`: a live record of the inode whose data range
/// overlaps `record`'s, referenced, or null.
///
/// # Safety
///
/// `record` is live with a live inode.
unsafe fn hammer_ip_get_bulk(record: ffi::hammer_record_t) -> ffi::hammer_record_t {
    // SAFETY: caller contract; only records of the inode's tree are read.
    unsafe {
        let ip = (*record).ip;
        let leaf = &(*record).leaf;
        let mut conflict: ffi::hammer_record_t = null_mut();
        RecTree::scan_with(
            addr_of_mut!((*ip).rec_tree),
            |rec| {
                let r = &(*rec).leaf;
                if r.base.rec_type != leaf.base.rec_type {
                    return if r.base.rec_type < leaf.base.rec_type {
                        -3
                    } else {
                        3
                    };
                }
                if leaf.base.rec_type == ffi::HAMMER_RECTYPE_DATA {
                    if r.base.key - r.data_len as i64 >= leaf.base.key {
                        return 2;
                    }
                    if r.base.key <= leaf.base.key - leaf.data_len as i64 {
                        return -2;
                    }
                } else if r.base.key != leaf.base.key {
                    return if r.base.key < leaf.base.key { -2 } else { 2 };
                }
                0
            },
            |rec| {
                if (*rec).flags & REC_GONE != 0 {
                    return 0;
                }
                hammer_ref(addr_of_mut!((*rec).lock));
                conflict = rec;
                -1
            },
        );
        conflict
    }
}

/// `hammer_mem_add`: enters the record in its inode's tree (EEXIST, and
/// the record is deleted, if a live record has the same key) and drops the
/// caller's reference; the inode now has dirty records.
///
/// # Safety
///
/// `record` is live and referenced, not in a tree.
pub unsafe fn hammer_mem_add(record: ffi::hammer_record_t) -> c_int {
    // SAFETY: caller contract.
    unsafe {
        let ip = (*record).ip;
        let hmp = (*ip).hmp;
        if !RecTree::insert(addr_of_mut!((*ip).rec_tree), record).is_null() {
            (*record).flags |= ffi::HAMMER_RECF_DELETED_FE;
            hammer_rel_mem_record(record);
            return ffi::EEXIST;
        }
        (*hmp).count_newrecords += 1;
        (*hmp).rsv_recs += 1;
        (*ip).rsv_recs += 1;
        (*hmp).rsv_databytes += (*record).leaf.data_len as i64;
        (*record).flags |= ffi::HAMMER_RECF_ONRBTREE;
        (*ip).flags |= inode_flags::XDIRTY;
        hammer_rel_mem_record(record);
        0
    }
}

/// `hammer_ip_replace_bulk`: installs a direct-write record in place of
/// any overlapping one (which gets deleted by the front-end), before the
/// write can complete.
///
/// # Safety
///
/// `record` is live and referenced, with a live inode.
/// Untraced body of the C entry point `hammer_ip_replace_bulk` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_ip_replace_bulk_untraced(
    _hmp: ffi::hammer_mount_t,
    record: ffi::hammer_record_t,
) {
    // SAFETY: caller contract.
    unsafe {
        let mut conflict;
        loop {
            conflict = hammer_ip_get_bulk(record);
            if conflict.is_null() {
                break;
            }
            if (*conflict).flags & ffi::HAMMER_RECF_INTERLOCK_BE == 0 {
                (*conflict).flags |= ffi::HAMMER_RECF_DELETED_FE;
                break;
            }
            (*conflict).flags |= ffi::HAMMER_RECF_WANTED;
            super::kcall::tsleep(conflict as *const c_void, 0, "hmrrc3", 0);
            hammer_rel_mem_record(conflict);
        }
        let error = hammer_mem_add(record);
        if !conflict.is_null() {
            hammer_rel_mem_record(conflict);
        }
        kassert(error == 0, "error == 0");
    }
}

/// `hammer_rel_mem_record`: drops a reference. A record left without
/// references that is deleted or committed leaves its inode's tree and is
/// destroyed, after any direct I/O on it finished (`hammer_io_direct_wait`
/// of the current I/O implementation).
///
/// # Safety
///
/// `record` is live and referenced.
/// Untraced body of the C entry point `hammer_rel_mem_record` (see `ntrace`).
pub(crate) unsafe extern "C-unwind" fn hammer_rel_mem_record_untraced(
    record: ffi::hammer_record_t,
) {
    // SAFETY: caller contract.
    unsafe {
        hammer_rel(addr_of_mut!((*record).lock));
        if !lock::norefs(addr_of_mut!((*record).lock)) {
            return;
        }
        let ip = (*record).ip;
        let hmp = (*ip).hmp;
        if (*record).flags & REC_GONE == 0 {
            return;
        }
        kassert(
            lock::isactive(addr_of_mut!((*ip).lock)) > 0,
            "hammer_isactive(&ip->lock) > 0",
        );
        kassert(
            (*record).flush_state != ffi::HAMMER_FST_FLUSH,
            "record not being flushed",
        );

        let target_ip = (*record).target_ip;
        if !target_ip.is_null() {
            tailq_remove!(addr_of_mut!((*target_ip).target_list), record, target_entry);
            (*record).target_ip = null_mut();
            hammer_ref(addr_of_mut!((*target_ip).lock));
        }

        let diddrop = if (*record).flags & ffi::HAMMER_RECF_ONRBTREE != 0 {
            RecTree::remove(addr_of_mut!((*ip).rec_tree), record);
            (*record).flags &= !ffi::HAMMER_RECF_ONRBTREE;
            kassert((*ip).rsv_recs > 0, "ip->rsv_recs > 0");
            if RecTree::is_empty(addr_of_mut!((*ip).rec_tree)) {
                (*ip).flags &= !inode_flags::XDIRTY;
                (*ip).sync_flags &= !inode_flags::XDIRTY;
            }
            true
        } else {
            false
        };

        if (*record).gflags & (ffi::HAMMER_RECG_DIRECT_IO | ffi::HAMMER_RECG_DIRECT_INVAL) != 0 {
            (current().direct_wait)(record);
        }

        if diddrop {
            (*hmp).rsv_recs -= 1;
            (*ip).rsv_recs -= 1;
            (*hmp).rsv_databytes -= (*record).leaf.data_len as i64;
            if (*ip).flags & inode_flags::RECSW != 0 {
                (*ip).flags &= !inode_flags::RECSW;
                super::kcall::wakeup(addr_of_mut!((*ip).rsv_recs) as *const c_void);
            }
        }
        if !target_ip.is_null() {
            hammer_rel_inode(target_ip, 0);
        }
        (*record).data = null_mut();
        HAMMER_COUNT_RECORDS.fetch_sub(1, Ordering::SeqCst);
        drop(Box::from_raw(record));
    }
}

/// Compile-time proof that the exports have the C types bindgen read
/// from hammer.h.
#[allow(dead_code)]
fn exports_match_bound_prototypes() {
    use super::sig::*;
    same1(ffi::hammer_rel_node, hammer_rel_node);
    same2(ffi::hammer_get_vnode, hammer_get_vnode);
    same2(ffi::hammer_rel_inode, hammer_rel_inode);
    same4(
        ffi::hammer_scan_inode_snapshots,
        hammer_scan_inode_snapshots,
    );
    same2(ffi::hammer_ip_replace_bulk, hammer_ip_replace_bulk);
    same1(ffi::hammer_rel_mem_record, hammer_rel_mem_record);
}
