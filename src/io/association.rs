//! Tying HAMMER structures to buffer-cache buffers and letting go of them:
//! `hammer_io_init`, `_read`, `_new`, `_advance`, `_inval`, `_release`,
//! `_notmeta`, `_wait`, `_wait_all` and the internal `_disassociate`.

use core::ffi::{c_int, CStr};

use crate::io::bioops;
use crate::io::dirty;
use crate::io::flush;
use crate::kassert;
use crate::sys::buf::{self, Buf, Vnode};
use crate::sys::counters::{
    hammer_cluster_enable, hammer_count_io_locked_add, hammer_count_io_running_read_add,
    hammer_debug_io, hammer_stats_disk_read_add, hz,
};
use crate::sys::ffi;
use crate::sys::flags::{BufFlags, SleepFlags};
use crate::sys::hammer::{self as h, Io, IoType, Mount, Volume};
use crate::sys::kern;
use crate::sys::sleep::{tsleep, tsleep_interlock, wakeup, WMesg};
use crate::sys::token::TokenGuard;
use crate::sys::zone::{
    HAMMER_BUFSIZE, HAMMER_CLUSTER_SIZE, HAMMER_OFF_SHORT_MASK, HAMMER_OFF_ZONE_MASK,
    HAMMER_ZONE_BTREE, HAMMER_ZONE_FREEMAP, HAMMER_ZONE_META,
};

/// `hammer_io_init()`: point a zeroed (or re-typed) io at its volume and
/// mount.
pub fn init(io: Io, volume: Volume, ty: IoType) {
    io.set_volume(volume);
    io.set_hmp_raw(volume.io().hmp_raw());
    io.set_io_type(ty);
}

/// `hammer_io_disassociate()`: cut the link between an io and its buffer.
///
/// The caller owns the buffer lock and the io (interlocked, released,
/// clean), so nothing can race this. The buffer is returned to the kernel
/// by the caller; `reclaim` turns into "throw the buffer away" flags.
pub fn disassociate(io: Io) {
    let bp = io.bp_nonnull();

    kassert!(io.released());
    kassert!(!io.modified());
    kassert!(bp.dep_first_is(io));
    bp.buf_dep_init();
    io.set_bp(None);

    // A B_LOCKED buffer is one the kernel already wanted to get rid of.
    if bp.has(BufFlags::B_LOCKED) {
        hammer_count_io_locked_add(-1);
        bp.clear(BufFlags::B_LOCKED);
    }
    if io.reclaim() {
        bp.set(BufFlags::B_NOCACHE | BufFlags::B_RELBUF);
        io.set_reclaim(false);
    }

    match io.io_type() {
        IoType::HAMMER_STRUCTURE_VOLUME => io.as_volume().clear_ondisk(),
        IoType::HAMMER_STRUCTURE_DATA_BUFFER
        | IoType::HAMMER_STRUCTURE_META_BUFFER
        | IoType::HAMMER_STRUCTURE_UNDO_BUFFER => io.as_buffer().clear_ondisk(),
        IoType::HAMMER_STRUCTURE_DUMMY => kern::kpanic(c"hammer_io_disassociate: bad io type"),
        _ => {}
    }
}

/// `hammer_io_wait()`: sleep until the io's write has completed.
///
/// The unlocked first test can race a completing write; the loop under
/// io_token with `tsleep_interlock` closes the window, and the one-second
/// timeout bounds any wakeup that still slips through.
pub fn wait(io: Io) {
    if io.running() {
        let hmp = io.hmp();
        let _io_token = TokenGuard::acquire(hmp.io_token());
        while io.running() {
            io.set_waiting(true);
            tsleep_interlock(io.wait_chan(), SleepFlags::empty());
            if io.running() {
                tsleep(
                    io.wait_chan(),
                    SleepFlags::PINTERLOCKED,
                    WMesg::new(c"hmrflw"),
                    hz(),
                );
            }
        }
    }
}

/// `hammer_io_wait_all()`: wait until every write that is on the mount's
/// iorun list now has completed, then optionally flush the device caches.
///
/// A placemarker io is queued at the tail and we sleep until it reaches
/// the head; completions wake the placemarker behind them, and each waiter
/// passes the wakeup on to a placemarker right behind its own.
pub fn wait_all(hmp: Mount, ident: WMesg, doflush: c_int) {
    let io_token = TokenGuard::acquire(hmp.io_token());
    if hmp.iorun_is_empty() {
        io_token.release();
        if doflush != 0 {
            flush::flush_sync(hmp);
        }
        return;
    }

    h::with_placemarker(|iodummy| {
        hmp.iorun_insert_tail(iodummy);
        while hmp.iorun_first() != Some(iodummy) {
            tsleep(iodummy.wait_chan(), SleepFlags::empty(), ident, 0);
        }

        hmp.iorun_remove(iodummy);
        if let Some(io) = hmp.iorun_first() {
            if io.io_type() == IoType::HAMMER_STRUCTURE_DUMMY {
                wakeup(io.wait_chan());
            }
        }
    });
    io_token.release();

    if doflush != 0 {
        flush::flush_sync(hmp);
    }
}

/// `hammer_io_notmeta()`: advise the buffer cache that this device buffer
/// holds file data (keeps it out of swapcache's meta-data policy). The
/// caller's ref keeps `io.bp` attached.
pub fn notmeta(buffer: h::Buffer) {
    let io = buffer.io();
    if !io.bp_nonnull().has(BufFlags::B_NOTMETA) {
        let hmp = io.hmp();
        let _io_token = TokenGuard::acquire(hmp.io_token());
        io.bp_nonnull().set(BufFlags::B_NOTMETA);
    }
}

/// What the debug trace of [`read`] calls the structure being read.
fn metatype(io: Io) -> &'static CStr {
    match io.io_type() {
        IoType::HAMMER_STRUCTURE_VOLUME => c"volume",
        IoType::HAMMER_STRUCTURE_META_BUFFER => {
            match io.as_buffer().zone_x_offset() & HAMMER_OFF_ZONE_MASK {
                HAMMER_ZONE_BTREE => c"btree",
                HAMMER_ZONE_META => c"meta",
                HAMMER_ZONE_FREEMAP => c"freemap",
                _ => c"meta?",
            }
        }
        IoType::HAMMER_STRUCTURE_DATA_BUFFER => c"data",
        IoType::HAMMER_STRUCTURE_UNDO_BUFFER => c"undo",
        _ => c"unknown",
    }
}

/// `hammer_io_read()`: make sure the io has its buffer, reading it from
/// `devvp` if needed; `limit` (bytes) bounds read clustering. The io is
/// exclusively locked by the caller, so no bioops can run meanwhile.
pub fn read(devvp: Vnode, io: Io, limit: c_int) -> c_int {
    if io.bp().is_some() {
        return 0;
    }

    hammer_count_io_running_read_add(io.bytes().into());
    let error = if hammer_cluster_enable() != 0 && limit > io.bytes() {
        buf::cluster_read(
            devvp,
            io.offset() + i64::from(limit),
            io.offset(),
            io.bytes(),
            HAMMER_CLUSTER_SIZE as usize,
            HAMMER_CLUSTER_SIZE as usize,
            io.bp_slot(),
        )
    } else {
        buf::bread(devvp, io.offset(), io.bytes(), io.bp_slot())
    };
    hammer_stats_disk_read_add(io.bytes());
    hammer_count_io_running_read_add(-i64::from(io.bytes()));

    // Even a failed read leaves a buffer, and the rest of HAMMER expects
    // b_ops/b_dep to be set up on it.
    let bp = io.bp_nonnull();
    // vn_strategy sets B_IODEBUG when the read really went to the device.
    if (hammer_debug_io() & 0x0001) != 0 && bp.has(BufFlags::B_IODEBUG) {
        kern::kprintf_read_trace(bp.bio2().offset(), metatype(io));
    }
    bp.clear(BufFlags::B_IODEBUG);
    bp.set_ops(bioops::ops());
    kassert!(bp.dep_is_empty());

    // The io lock protects io->worklist.
    bp.dep_insert_head(io);
    bp.buf_kernproc();
    kassert!(!io.modified());
    kassert!(!io.running());
    kassert!(!io.waiting());
    // HAMMER holds the buffer locked from here on.
    io.set_released(false);
    error
}

/// `hammer_io_new()`: like [`read`] but the buffer is instantiated without
/// reading and cleared; the io is marked modified (without a modify ref).
///
/// `vfs_bio_clrbuf()` must not run against background I/O, so the buffer
/// is re-acquired first if it had been released.
pub fn new(devvp: Vnode, io: Io) -> c_int {
    let bp: Buf = match io.bp() {
        None => {
            io.set_bp(Some(buf::getblk(devvp, io.offset(), io.bytes(), 0, 0)));
            let bp = io.bp_nonnull();
            bp.set_ops(bioops::ops());
            kassert!(bp.dep_is_empty());

            // The io lock protects io->worklist.
            bp.dep_insert_head(io);
            io.set_released(false);
            kassert!(!io.running());
            io.set_waiting(false);
            bp.buf_kernproc();
            bp
        }
        Some(bp) => {
            if io.released() {
                bp.regetblk();
                bp.buf_kernproc();
                io.set_released(false);
            }
            bp
        }
    };
    dirty::modify(io, 0);
    bp.vfs_bio_clrbuf();
    0
}

/// `hammer_io_advance()`: HAMMER does not getblk/brelse per access, so it
/// bumps the buffer's LRU activity itself. The caller's ref keeps the bp.
pub fn advance(io: Io) {
    if let Some(bp) = io.bp() {
        bp.buf_act_advance();
    }
}

/// `hammer_io_inval()`: remove a device-level alias (and its VM pages) of
/// the zone-2 buffer at `zone2_offset`, unless a HAMMER buffer still owns
/// it, in which case EAGAIN.
pub fn inval(volume: Volume, zone2_offset: u64) -> c_int {
    let hmp = volume.io().hmp();
    let io_token = TokenGuard::acquire(hmp.io_token());

    // Use an existing device buffer, or instantiate one so that stale VM
    // pages behind the range get thrown away with it.
    let phys_offset =
        (volume.vol_buf_beg() as u64).wrapping_add(zone2_offset & HAMMER_OFF_SHORT_MASK);
    let bp = match buf::findblk(volume.devvp(), phys_offset as i64, 0) {
        Some(bp) => {
            bp.bremfree();
            bp
        }
        None => buf::getblk(volume.devvp(), phys_offset as i64, HAMMER_BUFSIZE, 0, 0),
    };

    let error = if !bp.dep_is_empty() {
        bp.bqrelse();
        ffi::EAGAIN
    } else {
        kassert!(!bp.has(BufFlags::B_LOCKED));
        bp.bundirty();
        bp.set(BufFlags::B_NOCACHE | BufFlags::B_RELBUF);
        bp.brelse();
        0
    };
    io_token.release();
    error
}

/// `hammer_io_release()`: the last reference to the structure is going
/// away (the io is interlocked with no refs). Returns a buffer the caller
/// must dispose of (normally with `brelse`), or `None`.
///
/// Modified volume and meta-data buffers are never disassociated and stay
/// with HAMMER until the flusher writes them. Modified data and undo
/// buffers go back to the kernel as delayed writes but stay passively
/// associated, so their write-out is noticed. Clean buffers are released
/// passively and only cut loose when asked to (flush, reclaim, B_LOCKED).
pub fn release(io: Io, flush: c_int) -> Option<Buf> {
    let bp = io.bp()?;

    // Write a dirty buffer now if the caller asks, or if the kernel once
    // tried to get rid of it (B_LOCKED); the kernel may only push data and
    // undo buffers, the flusher handles the rest.
    if io.modified() {
        if flush != 0 {
            flush::flush(io, 0);
        } else if bp.has(BufFlags::B_LOCKED) {
            match io.io_type() {
                IoType::HAMMER_STRUCTURE_DATA_BUFFER => flush::flush(io, 0),
                IoType::HAMMER_STRUCTURE_UNDO_BUFFER => {
                    flush::flush(io, h::hammer_undo_reclaim(io))
                }
                _ => {}
            }
        }
    }

    // Unmount and invalidation must see the write finish.
    if io.waitdep() && io.running() {
        wait(io);
    }

    if (flush != 0 || io.reclaim()) && !io.modified() && !io.running() {
        // An explicit flush that completed cleanly (or a reclaim): cut the
        // buffer loose so unmount can tear the structure down.
        if io.released() {
            bp.regetblk();
            bp.buf_kernproc();
        } else {
            io.set_released(true);
        }
        disassociate(io);
        Some(bp)
    } else if io.modified() {
        match io.io_type() {
            IoType::HAMMER_STRUCTURE_DATA_BUFFER | IoType::HAMMER_STRUCTURE_UNDO_BUFFER
                if !io.released() =>
            {
                io.set_released(true);
                bp.set(BufFlags::B_CLUSTEROK);
                bp.bdwrite();
            }
            _ => {}
        }
        // The buffer stays associated.
        None
    } else if !io.released() {
        // Clean and held by us: hand it to the kernel, passively
        // associated unless somebody wants it gone.
        io.set_released(true);
        if bp.has(BufFlags::B_LOCKED) || io.reclaim() {
            disassociate(io);
        }
        Some(bp)
    } else if !io.running() {
        // Already released: re-acquire to refresh its LRU position (the
        // caller releases it again), or cut it loose if the kernel or we
        // want it destroyed.
        bp.regetblk();
        if bp.has(BufFlags::B_LOCKED) || io.reclaim() {
            disassociate(io);
        }
        Some(bp)
    } else {
        // Write in flight: leave the buffer alone; completion deals with
        // the io.
        None
    }
}
