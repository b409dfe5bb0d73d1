//! Writing buffers out: `hammer_io_flush`, `hammer_io_flush_mark`,
//! `hammer_io_flush_sync` and `hammer_io_limit_backlog`.

use core::ffi::c_int;

use crate::io::dirty;
use crate::kassert;
use crate::sys::bio::{biowait, vn_strategy};
use crate::sys::buf;
use crate::sys::counters::{
    hammer_count_io_locked_add, hammer_count_io_running_write_add, hammer_debug_io,
};
use crate::sys::ffi;
use crate::sys::flags::{BioFlags, BufCmd, BufFlags};
use crate::sys::hammer::{Io, Mount, Volume};
use crate::sys::kern;
use crate::sys::sleep::WMesg;
use crate::sys::token::TokenGuard;

/// `hammer_io_flush()`: start writing a possibly dirty io. Only called
/// when HAMMER knows it is safe: the caller has the io locked or holds the
/// only reference, which also keeps the kernel from starting a write.
/// With `reclaim` the buffer is thrown away once the write completes.
pub fn flush(io: Io, reclaim: c_int) {
    if !io.modified() {
        return;
    }

    kassert!(io.bp().is_some());
    kassert!(io.modify_refs() <= 0);

    // Own the buffer before clearing `modified`, and never leave a moment
    // where `released` claims the kernel has a buffer that we hold.
    let hmp = io.hmp();
    let bp = io.bp_nonnull();
    if io.released() {
        bp.regetblk();
        kassert!(io.released());
        kassert!(io.bp() == Some(bp));
    } else {
        io.set_released(true);
    }

    if reclaim != 0 {
        io.set_reclaim(true);
        if !bp.has(BufFlags::B_LOCKED) {
            bp.set(BufFlags::B_LOCKED);
            hammer_count_io_locked_add(1);
        }
    }

    // Clear `modified` (finalising delayed CRCs) before the write starts
    // and before anything can block, so that anyone modifying the data
    // from now on waits for us and re-dirties the io afterwards.
    io.lock().hammer_ref();
    dirty::clear_modify(io, 0);
    io.lock().hammer_rel();

    if (hammer_debug_io() & 0x0002) != 0 {
        kern::kprintf_io_write(bp.bio1().offset());
    }

    // Hand the buffer to the kernel and start the write. io_token is not
    // held around the space accounting, hence the atomic adds.
    io.set_running(true);
    hmp.io_running_space_add(io.bytes().into());
    hammer_count_io_running_write_add(io.bytes().into());
    {
        let _io_token = TokenGuard::acquire(hmp.io_token());
        hmp.iorun_insert_tail(io);
    }
    bp.cluster_awrite();
    flush_mark(io.volume());
}

/// `hammer_io_flush_mark()`: the volume may have writes sitting in the
/// device's cache.
pub fn flush_mark(volume: Volume) {
    volume.vol_flags_set(ffi::HAMMER_VOLF_NEEDFLUSH);
}

/// `hammer_io_flush_sync()`: flush the write cache of every volume marked
/// by [`flush_mark`]. One BUF_CMD_FLUSH pbuf per volume is issued, the
/// pbufs chained through `bio_caller_info1.cluster_head`, then all are
/// waited for and returned.
pub fn flush_sync(hmp: Mount) {
    let mut bp_base: Option<buf::Buf> = None;

    let mut next = hmp.rb_vols_min();
    while let Some(volume) = next {
        if (volume.vol_flags() & ffi::HAMMER_VOLF_NEEDFLUSH) != 0 {
            volume.vol_flags_clear(ffi::HAMMER_VOLF_NEEDFLUSH);
            let bp = buf::getpbuf();
            bp.bio1().set_offset(0);
            bp.set_bufsize(0);
            bp.set_bcount(0);
            bp.set_cmd(BufCmd::BUF_CMD_FLUSH);
            bp.bio1().set_cluster_head(bp_base);
            bp.bio1().set_done_biodone_sync();
            bp.bio1().set(BioFlags::BIO_SYNC);
            bp_base = Some(bp);
            vn_strategy(volume.devvp(), bp.bio1());
        }
        next = volume.rb_next();
    }

    while let Some(bp) = bp_base {
        bp_base = bp.bio1().cluster_head();
        biowait(bp.bio1(), WMesg::new(c"hmrFLS"));
        bp.relpbuf();
    }
}

/// `hammer_io_limit_backlog()`: throttle on the kernel's in-flight write
/// space.
pub fn limit_backlog(_hmp: Mount) {
    kern::waitrunningbufspace();
}
