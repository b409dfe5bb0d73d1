//! The flusher's buffer ordering (hammer_flusher.c): what one
//! finalization does with the dirty buffers of a mount, without the inode
//! flush groups in front of it.
//!
//! The order is the crash-safety contract of HAMMER: data buffers may go
//! at any time; the UNDO records must be on stable media (written, waited
//! for, device cache flushed) before the volume header that points past
//! them and before any meta-data they protect; meta-data goes last and
//! asynchronously.

use core::ffi::c_int;
use core::mem::size_of;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;

use super::globals::HAMMER_STATS_COMMITS;
use super::ioimpl::{current, IoImpl};
use super::kassert;
use super::lock::{hammer_lock_ex, hammer_unlock};
use super::mount::{crc_set_blockmap, crc_set_volume, Mount};
use super::ondisk::{buffer_of, gettoken, hammer_rel_buffer, ref_io, reltoken};
use super::undo::{
    hammer_clear_undo_history, hammer_undo_max, hammer_undo_space, VOL_VERSION_FOUR,
};
use crate::sys::ffi;

/// `HMNT_UNDO_DIRTY` (hammer_mount.h): the UNDO FIFO start recorded in
/// the volume header lags behind the in-memory one.
pub const HMNT_UNDO_DIRTY: c_int = 0x0000_0008;

/// `hammer_flusher_clean_loose_ios`: buffers whose bp the kernel took away
/// while they had no references sit on the lose list; free them.
///
/// # Safety
///
/// `hmp` is a live mount.
pub unsafe fn clean_loose_ios(hmp: ffi::hammer_mount_t) {
    // SAFETY: caller contract; the lose tree is protected by io_token.
    unsafe {
        let imp = current();
        let lose = addr_of_mut!((*hmp).lose_root);
        if (*lose).rbh_root.is_null() {
            return;
        }
        gettoken(addr_of_mut!((*hmp).io_token));
        loop {
            let io = (*lose).rbh_root;
            if io.is_null() {
                break;
            }
            kassert((*io).mod_root == lose, "io->mod_root == &hmp->lose_root");
            (imp.mod_remove)(lose, io);
            (*io).mod_root = null_mut();
            ref_io(io);
            hammer_rel_buffer(buffer_of(io), 0);
        }
        reltoken(addr_of_mut!((*hmp).io_token));
    }
}

/// `RB_FIRST` of one of the mount's mod trees, through the implementation.
///
/// # Safety
///
/// `root` is a live mod tree.
unsafe fn first(imp: &IoImpl, root: *mut ffi::hammer_mod_rb_tree) -> *mut ffi::hammer_io {
    // SAFETY: caller contract.
    unsafe { (imp.mod_minmax)(root, -1) }
}

/// `hammer_flusher_flush_undos`: writes every dirty UNDO buffer (reclaiming
/// all but the one at the append point), then waits for all HAMMER I/O and,
/// when `forced`, flushes the devices' write caches.
///
/// # Safety
///
/// `hmp` is a live mount.
pub unsafe fn flush_undos(hmp: ffi::hammer_mount_t, forced: bool) {
    // SAFETY: caller contract; each io is referenced while flushed.
    unsafe {
        let imp = current();
        let root = addr_of_mut!((*hmp).undo_root);
        let mut count = 0;
        loop {
            let io = first(&imp, root);
            if io.is_null() || (*io).ioerror() != 0 {
                break;
            }
            ref_io(io);
            kassert(
                (*io).type_ != ffi::HAMMER_STRUCTURE_VOLUME,
                "io->type != VOLUME",
            );
            (imp.write_interlock)(io);
            (imp.flush)(io, super::undo::hammer_undo_reclaim(io));
            (imp.done_interlock)(io);
            hammer_rel_buffer(buffer_of(io), 0);
            (imp.limit_backlog)(hmp);
            count += 1;
        }
        let _ = count;
        clean_loose_ios(hmp);
        if forced {
            (imp.wait_all)(hmp, c"hmrfl1".as_ptr(), 1);
        } else {
            (imp.wait_all)(hmp, c"hmrfl2".as_ptr(), 0);
        }
    }
}

/// `hammer_flusher_finalize`, for the buffers: see the module comment.
/// With `final_` the cached blockmap is written into the volume header
/// (with UNDO) and the UNDO FIFO start moves up for the next cycle.
pub fn finalize(m: &Mount, final_: bool) {
    let hmp = m.hmp();
    let imp = current();
    let mut trans = m.start_flusher_transaction();
    // SAFETY: every structure reached belongs to the live mount; each io
    // is referenced while it is flushed.
    unsafe {
        let t = trans.as_ptr();
        let root_volume = (*t).rootvol;
        hammer_lock_ex(addr_of_mut!((*hmp).flusher.finalize_lock));
        (*hmp).flusher.finalize_want += 1;

        if (*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR == 0 {
            finalize_locked(m, &imp, t, root_volume, final_);
        }

        hammer_unlock(addr_of_mut!((*hmp).flusher.finalize_lock));
        (*hmp).flusher.finalize_want -= 1;
        if (*hmp).flusher.finalize_want == 0 {
            super::kcall::wakeup(
                addr_of_mut!((*hmp).flusher.finalize_want) as *const core::ffi::c_void
            );
        }
        HAMMER_STATS_COMMITS.fetch_add(final_ as i64, Ordering::Relaxed);
    }
    m.done_transaction(trans);
}

/// The part of the finalization that runs unless the mount already had a
/// critical error.
///
/// # Safety
///
/// Called from [`finalize`] with the finalize lock held.
unsafe fn finalize_locked(
    m: &Mount,
    imp: &IoImpl,
    t: ffi::hammer_transaction_t,
    root_volume: ffi::hammer_volume_t,
    final_: bool,
) {
    let hmp = m.hmp();
    // SAFETY: see finalize.
    unsafe {
        // Data buffers: may be written at any time.
        let data_root = addr_of_mut!((*hmp).data_root);
        loop {
            let io = first(imp, data_root);
            if io.is_null() || (*io).ioerror() != 0 {
                break;
            }
            ref_io(io);
            (imp.write_interlock)(io);
            kassert(
                (*io).type_ != ffi::HAMMER_STRUCTURE_VOLUME,
                "io->type != VOLUME",
            );
            (imp.flush)(io, 0);
            (imp.done_interlock)(io);
            hammer_rel_buffer(buffer_of(io), 0);
            (imp.limit_backlog)(hmp);
        }

        // From here on meta-data must not change under us.
        (*t).sync_lock_refs += 1;
        hammer_lock_ex(addr_of_mut!((*hmp).sync_lock));

        let undo_idx = ffi::HAMMER_ZONE_UNDO_INDEX as usize;
        if final_ && (*root_volume).io.modified() != 0 {
            let dundomap =
                addr_of_mut!((*(*root_volume).ondisk).vol0_blockmap) as *mut core::ffi::c_void;
            (imp.modify_volume)(
                t,
                root_volume,
                dundomap,
                size_of::<[ffi::hammer_blockmap; 16]>() as c_int,
            );
            for bm in (*hmp).blockmap.iter_mut() {
                crc_set_blockmap(bm);
            }
            (*(*root_volume).ondisk).vol0_blockmap = (*hmp).blockmap;
            (imp.modify_volume_done)(root_volume);
        }

        // UNDOs: written, waited for and made stable before anything that
        // depends on them.
        hammer_lock_ex(addr_of_mut!((*hmp).undo_lock));
        let save_undo_next_offset = (*hmp).blockmap[undo_idx].next_offset;
        hammer_unlock(addr_of_mut!((*hmp).undo_lock));
        flush_undos(hmp, true);

        if (*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR == 0 {
            // Point the volume header's UNDO range at what was just
            // flushed (no UNDO for this).
            let dundomap = addr_of_mut!((*(*root_volume).ondisk).vol0_blockmap[undo_idx]);
            let cundomap = addr_of_mut!((*hmp).blockmap[undo_idx]);
            if (*dundomap).first_offset != (*cundomap).first_offset
                || (*dundomap).next_offset != save_undo_next_offset
            {
                (imp.modify_volume)(null_mut(), root_volume, null_mut(), 0);
                (*dundomap).first_offset = (*cundomap).first_offset;
                (*dundomap).next_offset = save_undo_next_offset;
                crc_set_blockmap(&mut *dundomap);
                (imp.modify_volume_done)(root_volume);
            }

            // The volume header itself.
            if (*root_volume).io.modified() != 0 {
                (imp.modify_volume)(null_mut(), root_volume, null_mut(), 0);
                if (*(*root_volume).ondisk).vol0_next_tid < (*t).tid {
                    (*(*root_volume).ondisk).vol0_next_tid = (*t).tid;
                }
                crc_set_volume(&mut *(*root_volume).ondisk);
                (imp.modify_volume_done)(root_volume);
                let vio = addr_of_mut!((*root_volume).io);
                (imp.write_interlock)(vio);
                (imp.flush)(vio, 0);
                (imp.done_interlock)(vio);
            }

            clean_loose_ios(hmp);
            if (*hmp).version < VOL_VERSION_FOUR {
                (imp.wait_all)(hmp, c"hmrfl3".as_ptr(), 1);
            }
        }

        if (*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR == 0 {
            // Meta-data: the UNDOs cover it, so it can go asynchronously.
            let meta_root = addr_of_mut!((*hmp).meta_root);
            loop {
                let io = first(imp, meta_root);
                if io.is_null() || (*io).ioerror() != 0 {
                    break;
                }
                kassert((*io).modify_refs == 0, "io->modify_refs == 0");
                ref_io(io);
                kassert(
                    (*io).type_ != ffi::HAMMER_STRUCTURE_VOLUME,
                    "io->type != VOLUME",
                );
                (imp.flush)(io, 0);
                hammer_rel_buffer(buffer_of(io), 0);
                (imp.limit_backlog)(hmp);
            }

            if final_ {
                // The FIFO start moves up for the next cycle; the volume
                // header learns it in the next finalization, so until the
                // two agree there is still work (HMNT_UNDO_DIRTY).
                let cundomap = addr_of_mut!((*hmp).blockmap[undo_idx]);
                if (*cundomap).first_offset != save_undo_next_offset {
                    (*cundomap).first_offset = save_undo_next_offset;
                    (*hmp).hflags |= HMNT_UNDO_DIRTY;
                } else if (*cundomap).first_offset != (*cundomap).next_offset {
                    (*hmp).hflags |= HMNT_UNDO_DIRTY;
                } else {
                    (*hmp).hflags &= !HMNT_UNDO_DIRTY;
                }
                hammer_clear_undo_history(hmp);
                if (*hmp).flush_tid1 != (*hmp).flush_tid2 {
                    (*hmp).flush_tid1 = (*hmp).flush_tid2;
                    super::kcall::wakeup(
                        addr_of_mut!((*hmp).flush_tid1) as *const core::ffi::c_void
                    );
                }
                (*hmp).flush_tid2 = (*t).tid;
                (*hmp).flags &= !ffi::HAMMER_MOUNT_REDO_SYNC;
            }
        }

        (*t).sync_lock_refs -= 1;
        hammer_unlock(addr_of_mut!((*hmp).sync_lock));
        if (*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR != 0 {
            super::kprint(
                "HAMMER(hosted): Critical write error during flush, refusing to sync UNDO FIFO",
            );
        }
    }
    let _ = m;
}

/// `hammer_flusher_haswork` for the buffer side: dirty buffers of any
/// kind, or a volume header whose UNDO range is behind.
pub fn haswork(m: &Mount) -> bool {
    let hmp = m.hmp();
    // SAFETY: the mount is live while `m` is.
    unsafe {
        if (*hmp).ronly != 0 || (*hmp).flags & ffi::HAMMER_MOUNT_CRITICAL_ERROR != 0 {
            return false;
        }
        !(*hmp).volu_root.rbh_root.is_null()
            || !(*hmp).undo_root.rbh_root.is_null()
            || !(*hmp).data_root.rbh_root.is_null()
            || !(*hmp).meta_root.rbh_root.is_null()
            || (*hmp).hflags & HMNT_UNDO_DIRTY != 0
    }
}

/// `hammer_flusher_undo_exhausted`: whether the free UNDO space is below
/// `quarter` quarters of the FIFO.
///
/// # Safety
///
/// `trans` is a live transaction with a loaded root volume.
pub unsafe fn undo_exhausted(trans: ffi::hammer_transaction_t, quarter: i64) -> bool {
    // SAFETY: caller contract.
    unsafe { hammer_undo_space(trans) < hammer_undo_max((*trans).hmp) * quarter / 4 }
}
