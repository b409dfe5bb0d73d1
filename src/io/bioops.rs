//! `hammer_bioops`: HAMMER's answers to the buffer cache about buffers
//! that carry a `hammer_io` on their `b_dep` list.
//!
//! The kernel calls these with the buffer locked by itself or by the
//! thread that triggered the call (getnewbuf, brelse, the buf daemon, I/O
//! completion), possibly while that thread holds unrelated locks. So they
//! never block for long: they take io_token and either get the io
//! interlock at once or pin the buffer with B_LOCKED and retry later.

use core::ffi::c_int;

use crate::io::association;
use crate::io::dirty;
use crate::kassert;
use crate::sys::bioops::{bio_ops_table, BioOps, BioOpsRef, VfsMount};
use crate::sys::buf::{Buf, Vnode};
use crate::sys::counters::{
    hammer_count_io_locked_add, hammer_count_io_running_write_add, hammer_stats_disk_read_add,
    hammer_stats_disk_write_add, panicstr_is_set,
};
use crate::sys::ffi;
use crate::sys::flags::BufFlags;
use crate::sys::hammer::{self as h, Io, IoType};
use crate::sys::kern;
use crate::sys::sleep::wakeup;
use crate::sys::token::TokenGuard;

/// The table every HAMMER-associated buffer points at (`bp->b_ops`).
/// Writable like the C definition; nothing in this module writes it.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut hammer_bioops: ffi::bio_ops = bio_ops_table::<HammerBioOps>();

/// `&hammer_bioops`, for `bp->b_ops`.
pub fn ops() -> BioOpsRef {
    // SAFETY: a static table that lives as long as the module and whose
    // callbacks never change.
    unsafe { BioOpsRef::from_static(&raw mut hammer_bioops) }
}

/// The io attached to a buffer handed to a callback. The kernel only calls
/// bioops for buffers with a dependency, so it is always there.
fn dep_io(bp: Buf) -> Io {
    crate::kassert_some!(bp.dep_io())
}

/// The callbacks behind [`hammer_bioops`].
pub struct HammerBioOps;

impl BioOps for HammerBioOps {
    /// Before a write starts (cluster builds, device strategy): nothing to
    /// do, so not even io_token is taken.
    fn io_start(_bp: Buf) {}

    fn io_complete(bp: Buf) {
        complete(bp);
    }

    fn io_deallocate(bp: Buf) {
        deallocate(bp);
    }

    /// Only reachable through mount-level bioops, which HAMMER does not
    /// register.
    fn io_fsync(_vp: Vnode) -> c_int {
        0
    }

    /// As `io_fsync`: HAMMER syncs through VFS_SYNC instead.
    fn io_sync(_mp: VfsMount) -> c_int {
        0
    }

    fn io_movedeps(_bp1: Buf, _bp2: Buf) {}

    /// Never ask the buf daemon to postpone a write.
    fn io_countdeps(_bp: Buf, _n: c_int) -> c_int {
        0
    }

    /// HAMMER reads through B_CACHE buffers, so read clustering rarely
    /// asks; when it does, let it proceed.
    fn io_checkread(_bp: Buf) -> c_int {
        0
    }

    fn io_checkwrite(bp: Buf) -> c_int {
        checkwrite(bp)
    }
}

/// `hammer_io_complete()`: a read or write of the buffer finished. May run
/// in the I/O completion thread, concurrently with the front end.
///
/// HAMMER may already be modifying a data buffer again while its write
/// runs; that is fine, `modified` was cleared before the write started.
pub fn complete(bp: Buf) {
    let io = dep_io(bp);
    let hmp = io.hmp();

    let io_token = TokenGuard::acquire(hmp.io_token());

    kassert!(io.released());

    if io.running() {
        // A failed write is a critical error: HAMMER stops updating the
        // UNDO FIFO so that recovery yields a consistent filesystem. Failed
        // UNDO buffers can therefore be dropped, but failed meta-data or
        // data must not be, or the now read-only view would be corrupted.
        // Clearing B_ERROR keeps the kernel from re-dirtying the buffer;
        // the ioerror ref keeps the io from being thrown away.
        if bp.has(BufFlags::B_ERROR) {
            {
                let _fs_token = TokenGuard::acquire(hmp.fs_token());
                h::hammer_critical_error(hmp, None, bp.error(), c"while flushing meta-data");
            }

            match io.io_type() {
                IoType::HAMMER_STRUCTURE_UNDO_BUFFER => {}
                _ => {
                    if !io.ioerror() {
                        io.set_ioerror(true);
                        io.lock().hammer_ref();
                    }
                }
            }
            bp.clear(BufFlags::B_ERROR);
            bp.bundirty();
        }
        hammer_stats_disk_write_add(io.bytes());
        hammer_count_io_running_write_add(-i64::from(io.bytes()));
        hmp.io_running_space_add(-i64::from(io.bytes()));
        kassert!(hmp.io_running_space() >= 0);
        io.set_running(false);

        // Leave the iorun list; if we were its head, the placemarker
        // right behind us (a hammer_io_wait_all() waiter) is now first.
        if hmp.iorun_first() == Some(io) {
            if let Some(ionext) = io.iorun_next() {
                if ionext.io_type() == IoType::HAMMER_STRUCTURE_DUMMY {
                    wakeup(ionext.wait_chan());
                }
            }
        }
        hmp.iorun_remove(io);
    } else {
        hammer_stats_disk_read_add(io.bytes());
    }

    if io.waiting() {
        io.set_waiting(false);
        wakeup(io.wait_chan());
    }

    // The kernel wanted this buffer gone earlier and we had to refuse;
    // try again now. This fails if the io has refs or is interlocked, and
    // may free the structure.
    if bp.has(BufFlags::B_LOCKED) {
        hammer_count_io_locked_add(-1);
        bp.clear(BufFlags::B_LOCKED);
        deallocate(bp);
    }
    io_token.release();
}

/// `hammer_io_deallocate()`: the kernel (which owns the buffer) wants to
/// recycle or destroy a passively associated buffer.
///
/// Called from getnewbuf, so it must not recurse into HAMMER's trees or
/// block; when the buffer cannot be let go right now, B_LOCKED tells the
/// kernel to keep it. May also run from [`complete`].
pub fn deallocate(bp: Buf) {
    let io = dep_io(bp);
    let hmp = io.hmp();

    let io_token = TokenGuard::acquire(hmp.io_token());

    kassert!(!bp.has(BufFlags::B_LOCKED) && !io.running());
    if !io.lock().hammer_try_interlock_norefs() {
        // Referenced or interlocked by someone: cannot disassociate.
        bp.set(BufFlags::B_LOCKED);
        hammer_count_io_locked_add(1);
    } else if io.modified() {
        // A modified buffer may not be disassociated (not expected to
        // happen).
        bp.set(BufFlags::B_LOCKED);
        hammer_count_io_locked_add(1);
        io.lock().hammer_put_interlock(0);
    } else {
        // The kernel holds the buffer, so the io is released; cut it loose.
        // A buffer io without its bp goes on the lose tree until its
        // structure is destroyed.
        association::disassociate(io);
        if io.io_type() != IoType::HAMMER_STRUCTURE_VOLUME {
            kassert!(io.bp().is_none());
            kassert!(io.mod_root().is_none());
            io.set_mod_root(Some(hmp.lose_root()));
            if hmp.lose_root().rb_insert(io).is_some() {
                kern::kpanic(c"hammer_io_deallocate: duplicate entry");
            }
        }
        io.lock().hammer_put_interlock(1);
    }
    io_token.release();
}

/// `hammer_io_checkwrite()`: the kernel wants to write a delayed-write
/// buffer (buf daemon, syncer, a neighbour in a write cluster). Returns 0
/// to allow it, in which case the write is guaranteed to start, or 1 to
/// refuse.
///
/// Only data and undo buffers may be written by the kernel; volume and
/// meta-data buffers are the flusher's alone, and asking about them means
/// something is badly wrong.
pub fn checkwrite(bp: Buf) -> c_int {
    let io = dep_io(bp);
    let hmp = io.hmp();

    let io_token = TokenGuard::acquire(hmp.io_token());
    if io.io_type() == IoType::HAMMER_STRUCTURE_VOLUME
        || io.io_type() == IoType::HAMMER_STRUCTURE_META_BUFFER
    {
        if !panicstr_is_set() {
            kern::kpanic(c"hammer_io_checkwrite: illegal buffer");
        }
        if !bp.has(BufFlags::B_LOCKED) {
            bp.set(BufFlags::B_LOCKED);
            hammer_count_io_locked_add(1);
        }
        io_token.release();
        return 1;
    }

    // Changing the io without fs_token needs the interlock; failing to get
    // it means we race another user. Our hold on the buffer lock keeps the
    // io attached meanwhile.
    if !io.lock().hammer_try_interlock_norefs() {
        bp.set(BufFlags::B_LOCKED);
        hammer_count_io_locked_add(1);
        io_token.release();
        return 1;
    }

    // `modified` must be clear before the write starts, unless modifiers
    // are still active (then the data buffer stays modified so their
    // changes are not lost). Data and undo buffers have no delayed CRCs,
    // but the temporary ref is kept as a precaution.
    if io.modify_refs() == 0 && io.modified() {
        io.lock().hammer_ref();
        dirty::clear_modify(io, 0);
        io.lock().hammer_rel();
    } else if io.modified() {
        kassert!(io.io_type() == IoType::HAMMER_STRUCTURE_DATA_BUFFER);
    }

    // The kernel starts the write once we return 0.
    kassert!(!io.running());
    io.set_running(true);
    io.hmp().io_running_space_add(io.bytes().into());
    hammer_count_io_running_write_add(io.bytes().into());
    io.hmp().iorun_insert_tail(io);

    io.lock().hammer_put_interlock(1);
    io_token.release();

    0
}
