//! BIO layers and I/O completion: push_bio/pop_bio over the buffer's
//! embedded b_bio_array, biodone() (walks up to the first bio_done
//! callback, else bpdone(bp, 1)), biodone_sync()/biowait(), and bpdone()
//! (io_complete first, then re-dirty of a failed write, page completion,
//! then brelse/bqrelse).

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_char, c_int};
use std::ffi::CStr;

use crate::sys::ffi::{
    self, BIO_DONE, BIO_SYNC, BIO_WANT, B_CACHE, B_EINTR, B_ERROR, B_HASBOGUS, B_INVAL, B_NOCACHE,
    B_RELBUF, B_VMIO, NOOFFSET,
};

use super::bp::{BioP, Bp, CMD_DONE, CMD_FREEBLKS, CMD_READ, CMD_WRITE};
use super::bufcache::{
    bdirty_locked, bqrelse_impl, brelse_impl, check, runningbufwakeup, vfs_read_done_pages,
};
use super::buflock;
use super::callout;
use super::machine::{lock, me};
use super::misc::kpanic;
use super::sleep::{interlock, sleep, wakeup_locked, PINTERLOCKED};
use super::trace;

/// push_bio(): the next translation layer (created on first use).
pub(crate) fn push_bio_impl(bio: BioP) -> BioP {
    let mut nbio = bio.next();
    if nbio.is_null() {
        let bp = Bp(bio.buf());
        let index = match bp.bio_index(bio.0) {
            Some(i) => i,
            None => kpanic(format!(
                "push_bio: bio {:p} is not embedded in its buffer",
                bio.0
            )),
        };
        if index >= ffi::NBUF_BIO - 1 {
            kpanic(format!("push_bio: too many layers bp {:p}", bp.0));
        }
        let n = bp.bio(index + 1);
        bio.set_next(n.0);
        n.set_prev(bio.0);
        n.set_buf(bp.0);
        n.set_offset(NOOFFSET);
        n.set_done(None);
        n.set_next(core::ptr::null_mut());
        nbio = n.0;
    }
    let n = BioP(nbio);
    if n.done().is_some() {
        kpanic("assertion \"nbio->bio_done == NULL\" failed in push_bio".to_string());
    }
    n
}

/// bpdone(): finish I/O on the buffer once no bio callbacks are left.
pub(crate) fn bpdone_impl(bp: Bp, elseit: bool) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    if buflock::count(&g, idx) == 0 {
        drop(g);
        kpanic(format!("biodone: bp {:p} not busy 0", bp.0));
    }
    let cmd = bp.cmd();
    if cmd == CMD_DONE {
        drop(g);
        kpanic(format!("biodone: bp {:p} already done!", bp.0));
    }
    bp.set_cmd(CMD_DONE);
    if cmd != CMD_READ && cmd != CMD_WRITE {
        if cmd == CMD_FREEBLKS {
            bp.or(B_NOCACHE);
        }
        drop(g);
        if elseit {
            brelse_impl(bp);
        }
        return;
    }
    drop(g);
    // The filesystem hears about the completion first.
    if bp.has_deps() {
        callout::buf_complete(bp);
    }
    let mut g = lock();
    // A failed write is re-dirtied unless the buffer was invalidated.
    if cmd == CMD_WRITE && bp.flags() & (B_ERROR | B_INVAL) == B_ERROR {
        bp.clear(B_NOCACHE);
        if !bp.vp().is_null() {
            g = bdirty_locked(g, me, idx);
        }
    }
    if bp.has(B_VMIO) {
        if cmd == CMD_READ && bp.flags() & (B_INVAL | B_NOCACHE | B_ERROR) == 0 {
            bp.or(B_CACHE);
        }
        if cmd == CMD_READ {
            vfs_read_done_pages(&mut g, idx);
        }
        bp.clear(B_HASBOGUS);
    }
    g.bufs[idx].bogus.clear();
    drop(g);
    if elseit {
        if bp.has(B_NOCACHE | B_INVAL | B_ERROR | B_RELBUF) {
            brelse_impl(bp);
        } else {
            bqrelse_impl(bp);
        }
    }
}

/// biodone().
pub(crate) fn biodone_impl(bio: BioP) {
    let bp = Bp(bio.buf());
    {
        let mut g = lock();
        runningbufwakeup(&mut g, bp);
    }
    let mut cur = bio.0;
    while !cur.is_null() {
        let b = BioP(cur);
        b.set_track(core::ptr::null_mut());
        if let Some(f) = b.done() {
            b.set_done(None);
            callout::call_biodone(f, b);
            return;
        }
        cur = b.prev();
    }
    bpdone_impl(bp, true);
}

/// biodone_sync(): complete a synchronous bio and wake its waiter.
pub(crate) fn biodone_sync_impl(bio: BioP) {
    let bp = Bp(bio.buf());
    if bp.bio1() != bio {
        kpanic("assertion \"bio == &bp->b_bio1\" failed in biodone_sync".to_string());
    }
    bpdone_impl(bp, false);
    let mut g = lock();
    let old = bio.flags_atomic().fetch_update(
        core::sync::atomic::Ordering::SeqCst,
        core::sync::atomic::Ordering::SeqCst,
        |f| Some((f | BIO_DONE) & !BIO_WANT),
    );
    let old = old.unwrap_or(0);
    if old & BIO_WANT != 0 {
        wakeup_locked(&mut g, bio.0 as usize);
    }
}

/// biowait(): wait for BIO_DONE on b_bio1 and return the I/O's error.
pub(crate) fn biowait_impl(bio: BioP, wmesg: &str) -> i32 {
    let bp = Bp(bio.buf());
    if bp.bio1() != bio {
        kpanic("assertion \"bio == &bp->b_bio1\" failed in biowait".to_string());
    }
    let mut g = lock();
    let me = me(&mut g);
    g.st.biowaits += 1;
    loop {
        let flags = bio.flags();
        if flags & BIO_DONE != 0 {
            break;
        }
        interlock(&mut g, me, bio.0 as usize);
        if bio
            .flags_atomic()
            .compare_exchange(
                flags,
                flags | BIO_WANT,
                core::sync::atomic::Ordering::SeqCst,
                core::sync::atomic::Ordering::SeqCst,
            )
            .is_ok()
        {
            let (g2, err) = sleep(g, me, bio.0 as usize, PINTERLOCKED, wmesg, 0);
            g = g2;
            if err != 0 {
                return err;
            }
        }
    }
    drop(g);
    if bp.cmd() != CMD_DONE {
        kpanic("assertion \"bp->b_cmd == BUF_CMD_DONE\" failed in biowait".to_string());
    }
    bio.clear_flags(BIO_DONE | BIO_SYNC);
    if bp.has(B_EINTR) {
        return 4;
    }
    if bp.has(B_ERROR) {
        let e = bp.error();
        return if e != 0 { e } else { 5 };
    }
    0
}

/// # Safety
/// `bio` must be embedded in a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn push_bio(bio: *mut ffi::bio) -> *mut ffi::bio {
    trace::bio_call("push_bio", bio, &[]);
    push_bio_impl(BioP(bio)).0
}

/// # Safety
/// `bio` must be embedded in a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn pop_bio(bio: *mut ffi::bio) -> *mut ffi::bio {
    trace::bio_call("pop_bio", bio, &[]);
    BioP(bio).prev()
}

/// # Safety
/// `bp` must be a buffer of this machine with I/O in progress.
#[no_mangle]
pub unsafe extern "C-unwind" fn bpdone(bp: *mut ffi::buf, elseit: c_int) {
    trace::buf_call("bpdone", Bp(bp), &[elseit as i64]);
    bpdone_impl(Bp(bp), elseit != 0);
}

/// # Safety
/// `bio` must be embedded in a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn biodone(bio: *mut ffi::bio) {
    trace::bio_call("biodone", bio, &[]);
    biodone_impl(BioP(bio));
}

/// # Safety
/// `bio` must be b_bio1 of a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn biodone_sync(bio: *mut ffi::bio) {
    trace::bio_call("biodone_sync", bio, &[]);
    biodone_sync_impl(BioP(bio));
}

/// # Safety
/// `bio` must be b_bio1 of a buffer of this machine; `wmesg` NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C-unwind" fn biowait(bio: *mut ffi::bio, wmesg: *const c_char) -> c_int {
    trace::bio_call("biowait", bio, &[]);
    let w = if wmesg.is_null() {
        String::from("biowait")
    } else {
        // SAFETY: NUL-terminated per the contract.
        unsafe { CStr::from_ptr(wmesg) }
            .to_string_lossy()
            .into_owned()
    };
    let r = biowait_impl(BioP(bio), &w);
    trace::bio_event("biowait", trace::Kind::Return, bio, &[r as i64]);
    r
}
