//! Background actors: the buffer daemon (flushbufqueues(): countdeps,
//! checkwrite, then cluster_awrite or brelse) and the syncer (vfsync of
//! the vnodes on its worklist: checkwrite, then cluster_awrite, or
//! bremfree+brelse on a veto).

use std::format;
use std::prelude::rust_2021::*;

use std::time::{Duration, Instant};

use crate::sys::ffi::{
    B_AGE, B_DEFERRED, B_DELWRI, B_ERROR, B_INVAL, B_NEEDCOMMIT, B_NOCACHE, B_RELBUF,
};

use super::bp::Vp;
use super::bufcache::{
    bd_request_ident, brelse_impl, bremfree_locked, bwrite_impl, check, q_insert_tail, q_list,
    waitrunningbufspace_impl, BQUEUE_DIRTY, BQUEUE_DIRTY_HW,
};
use super::buflock::{try_lock, unlock};
use super::callout::{buf_checkwrite, buf_countdeps};
use super::cluster::cluster_awrite_impl;
use super::machine::{assume_identity, lock, lock_raw, me};
use super::misc::kprintf;
use super::sleep::{interlock, sleep, PINTERLOCKED};
use super::token;
use super::vnode::{rec, rec_mut};

/// flushbufqueues(): try to write out one buffer of dirty queue `q`.
/// Returns 1 if a buffer was dealt with, 0 if none could be.
pub(crate) fn flushbufqueues(q: u32) -> i32 {
    let mut g = lock();
    let me = me(&mut g);
    // The queue as it is now; each buffer is re-checked once locked.
    for idx in q_list(&g, q) {
        let bp = g.bufs[idx].bp;
        if g.bufs[idx].qindex != q {
            continue;
        }
        if !bp.has(B_DELWRI) {
            kprintf(&format!("Unexpected clean buffer {:p}\n", bp.0));
            continue;
        }
        if try_lock(&mut g, me, idx).is_err() {
            continue;
        }
        if !bp.has(B_DELWRI) || g.bufs[idx].qindex != q {
            unlock(&mut g, me, idx);
            continue;
        }
        bremfree_locked(&mut g, idx);
        g.st.daemon_flushes += 1;
        if bp.has(B_INVAL) {
            drop(g);
            brelse_impl(bp);
            return 1;
        }
        drop(g);
        if bp.has_deps() && !bp.has(B_DEFERRED) && buf_countdeps(bp, 0) != 0 {
            // Deferred: back to the tail, and on with the scan.
            g = lock();
            q_insert_tail(&mut g, idx, q);
            bp.or(B_DEFERRED);
            unlock(&mut g, me, idx);
            continue;
        }
        if bp.has_deps() && buf_checkwrite(bp) != 0 {
            brelse_impl(bp);
        } else if bp.has(B_ERROR) {
            {
                let g = lock();
                let _ = sleep(g, me, bp.0 as usize, 0, "bioer", 1);
            }
            bp.clear(B_AGE);
            cluster_awrite_impl(bp);
        } else {
            bp.or(B_AGE);
            cluster_awrite_impl(bp);
        }
        return 1;
    }
    0
}

fn daemon_limit(queue: u32) -> bool {
    let g = lock();
    let limit = g.lim.lodirtybufspace / 2;
    let nbuf = g.cfg.nbuf as i64;
    let base = g.g.runningbufspace + g.g.dirtykvaspace > limit;
    if queue == BQUEUE_DIRTY {
        base || g.g.dirtybufcount - g.g.dirtybufcounthw >= nbuf / 2
    } else {
        base || g.g.dirtybufcounthw >= nbuf / 2
    }
}

/// One wakeup of the buffer daemon: flush while the dirty + running
/// space is above its low-water mark. Returns the buffers dealt with.
pub fn buf_daemon_pass() -> usize {
    let mut n = 0;
    let cap = {
        let g = lock();
        g.queues[BQUEUE_DIRTY as usize].len + g.queues[BQUEUE_DIRTY_HW as usize].len
    };
    for q in [BQUEUE_DIRTY, BQUEUE_DIRTY_HW] {
        let mut budget = cap + 1;
        while budget > 0 && daemon_limit(q) {
            budget -= 1;
            if flushbufqueues(q) == 0 {
                break;
            }
            n += 1;
        }
    }
    n
}

/// Run flushbufqueues() regardless of the dirty limits, up to `max`
/// times (each call deals with one buffer). Returns how many were dealt
/// with (a checkwrite veto counts, as in the kernel).
pub fn buf_daemon_flush(max: usize) -> usize {
    let mut n = 0;
    for q in [BQUEUE_DIRTY, BQUEUE_DIRTY_HW] {
        let cap = lock().queues[q as usize].len;
        let mut budget = cap;
        while n < max && budget > 0 {
            budget -= 1;
            if flushbufqueues(q) == 0 {
                break;
            }
            n += 1;
        }
    }
    n
}

/// Deterministic mode: one daemon step run inline for a thread that waits
/// for buffers. Returns whether anything was flushed.
pub(crate) fn inline_flush_step() -> bool {
    let (gen, tid) = {
        let mut g = lock();
        let t = g.pseudo_tid("bufdaemon");
        g.inline_depth += 1;
        (g.gen, t)
    };
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            let mut g = lock_raw();
            g.inline_depth = g.inline_depth.saturating_sub(1);
        }
    }
    let _d = Depth;
    let _id = assume_identity(gen, tid);
    flushbufqueues(BQUEUE_DIRTY) != 0 || flushbufqueues(BQUEUE_DIRTY_HW) != 0
}

/// The buffer daemon thread.
pub(crate) fn buf_daemon_thread() {
    loop {
        waitrunningbufspace_impl();
        for q in [BQUEUE_DIRTY, BQUEUE_DIRTY_HW] {
            let mut budget = 10_000;
            while budget > 0 && daemon_limit(q) {
                budget -= 1;
                if flushbufqueues(q) == 0 {
                    break;
                }
                let over = {
                    let g = lock();
                    g.g.runningbufspace >= g.lim.hirunningspace
                };
                if over {
                    waitrunningbufspace_impl();
                }
            }
        }
        let mut g = lock();
        let me = me(&mut g);
        interlock(&mut g, me, bd_request_ident());
        let req = std::mem::replace(&mut g.g.bd_request, 0);
        if req == 0 {
            let hz = g.cfg.hz;
            let _ = sleep(g, me, bd_request_ident(), PINTERLOCKED, "psleep", hz);
        } else {
            let t = &mut g.threads[me as usize];
            t.tsleepq = false;
            t.wchan = 0;
        }
    }
}

// ---------------------------------------------------------------------------
// Syncer.

/// How vfsync() writes what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// MNT_LAZY (the syncer): from v_lazyw on, up to about 1 MiB.
    Lazy,
    /// MNT_NOWAIT: start writes on every dirty buffer.
    NoWait,
    /// MNT_WAIT: write everything and wait for it.
    Wait,
}

/// vfsync_bp(); returns false to stop the scan.
fn vfsync_bp(vn: usize, off: i64, synchronous: bool, lazy: Option<&mut i64>) -> bool {
    let mut g = lock();
    let me = me(&mut g);
    let Some(&idx) = rec(&g, vn).hash.get(&off) else {
        return true;
    };
    let bp = g.bufs[idx].bp;
    if try_lock(&mut g, me, idx).is_err() {
        g.st.syncer_skipped += 1;
        return true;
    }
    if !bp.has(B_DELWRI) || g.bufs[idx].vn != vn || bp.has(B_NEEDCOMMIT) {
        unlock(&mut g, me, idx);
        return true;
    }
    drop(g);
    if bp.has_deps() && buf_checkwrite(bp) != 0 {
        let mut g = lock();
        let idx = check(&g, bp.0);
        bremfree_locked(&mut g, idx);
        drop(g);
        brelse_impl(bp);
        return true;
    }
    {
        let mut g = lock();
        rec_mut(&mut g, vn).lazyw = off;
        let idx = check(&g, bp.0);
        bremfree_locked(&mut g, idx);
        g.st.syncer_writes += 1;
    }
    if synchronous {
        bwrite_impl(bp);
        return true;
    }
    let n = cluster_awrite_impl(bp) as i64;
    waitrunningbufspace_impl();
    match lazy {
        Some(c) => {
            *c += n;
            *c < 1024 * 1024
        }
        None => true,
    }
}

/// One RB_SCAN of the dirty tree from `start`; returns (completed, writes
/// started).
fn vfsync_scan(
    vn: usize,
    start: i64,
    synchronous: bool,
    mut lazy: Option<&mut i64>,
) -> (bool, u64) {
    let mut pos = start;
    let before = lock().st.syncer_writes;
    loop {
        let next = {
            let g = lock();
            rec(&g, vn).dirty.range(pos..).next().copied()
        };
        let Some(off) = next else {
            break;
        };
        if !vfsync_bp(vn, off, synchronous, lazy.as_deref_mut()) {
            let after = lock().st.syncer_writes;
            return (false, after - before);
        }
        pos = off + 1;
    }
    let after = lock().st.syncer_writes;
    (true, after - before)
}

/// Wait until no buffer of the vnode has a write in flight
/// (bio_track_wait on v_track_write).
fn wait_output(vn: usize) {
    static CHAN: u8 = 0;
    loop {
        let busy = {
            let g = lock();
            rec(&g, vn)
                .hash
                .values()
                .any(|&i| g.bufs[i].bp.cmd() == super::bp::CMD_WRITE)
        };
        if !busy {
            return;
        }
        let mut g = lock();
        let me = me(&mut g);
        let _ = sleep(g, me, &CHAN as *const u8 as usize, 0, "vfsyncw", 1);
    }
}

/// vfsync(): write the dirty buffers of a vnode the way VOP_FSYNC on a
/// device vnode does (checkwrite is asked for buffers with deps).
pub(crate) fn vfsync_vn(vn: usize, mode: SyncMode) {
    let tok = {
        let g = lock();
        Vp(rec(&g, vn).vp.0).token_addr()
    };
    token::get_current(tok);
    match mode {
        SyncMode::Lazy => {
            let mut lazycount = 0i64;
            let start = rec(&lock(), vn).lazyw;
            let (complete, _) = vfsync_scan(vn, start, false, Some(&mut lazycount));
            if complete {
                rec_mut(&mut lock(), vn).lazyw = 0;
            }
        }
        SyncMode::NoWait => {
            vfsync_scan(vn, i64::MIN, false, None);
        }
        SyncMode::Wait => {
            vfsync_scan(vn, i64::MIN, false, None);
            wait_output(vn);
            vfsync_scan(vn, i64::MIN, false, None);
            wait_output(vn);
            // Further passes while anything is left; the last one is
            // synchronous. A pass in which every buffer was vetoed ends it.
            let mut passes = 10_000;
            while passes > 0 && !rec(&lock(), vn).dirty.is_empty() {
                passes -= 1;
                let (_, n) = vfsync_scan(vn, i64::MIN, passes == 0, None);
                wait_output(vn);
                if n == 0 {
                    break;
                }
            }
        }
    }
    token::rel_current(tok);
}

/// vfsync() on a vnode (VOP_FSYNC of a device vnode).
pub fn vfsync(vp: *mut crate::sys::ffi::vnode, mode: SyncMode) {
    let vn = {
        let g = lock();
        super::vnode::vn_id(&g, vp)
    };
    vfsync_vn(vn, mode);
}

/// vinvalbuf(): flush (`save`: V_SAVE) or throw away every buffer of the
/// vnode, then drop its cached pages, as a device close does. Buffers are
/// destroyed whatever B_LOCKED says and without asking checkwrite
/// (io_deallocate is still called by brelse for buffers with deps).
pub fn vinvalbuf(vp: *mut crate::sys::ffi::vnode, save: bool) {
    let (vn, tok) = {
        let g = lock();
        let vn = super::vnode::vn_id(&g, vp);
        (vn, Vp(vp).token_addr())
    };
    token::get_current(tok);
    if save {
        wait_output(vn);
        if !rec(&lock(), vn).dirty.is_empty() {
            vfsync_vn(vn, SyncMode::Wait);
        }
    }
    loop {
        for clean in [true, false] {
            let offs: Vec<i64> = {
                let g = lock();
                let r = rec(&g, vn);
                if clean {
                    r.clean.iter().copied().collect()
                } else {
                    r.dirty.iter().copied().collect()
                }
            };
            for off in offs {
                vinvalbuf_bp(vn, off, clean, save);
            }
        }
        wait_output(vn);
        let g = lock();
        let r = rec(&g, vn);
        if r.clean.is_empty() && r.dirty.is_empty() {
            break;
        }
    }
    {
        let mut g = lock();
        let r = rec_mut(&mut g, vn);
        if !r.hash.is_empty() {
            drop(g);
            super::misc::kpanic("vinvalbuf: flush failed, buffers still present".to_string());
        }
        r.vm.evict_unwired();
    }
    token::rel_current(tok);
}

fn vinvalbuf_bp(vn: usize, off: i64, clean: bool, save: bool) {
    let mut g = lock();
    let me = me(&mut g);
    let Some(&idx) = rec(&g, vn).hash.get(&off) else {
        return;
    };
    let bp = g.bufs[idx].bp;
    if try_lock(&mut g, me, idx).is_err() {
        bp.set_refs(bp.refs() + 1);
        let (mut g2, err) = super::buflock::lock_buf(g, me, idx, true, 0);
        bp.set_refs(bp.refs() - 1);
        if err == 0 {
            unlock(&mut g2, me, idx);
        }
        return;
    }
    if clean == bp.has(B_DELWRI) {
        unlock(&mut g, me, idx);
        return;
    }
    bremfree_locked(&mut g, idx);
    drop(g);
    if bp.flags() & (B_DELWRI | B_INVAL) == B_DELWRI && save {
        cluster_awrite_impl(bp);
    } else if save {
        bp.or(B_INVAL | B_RELBUF);
        brelse_impl(bp);
    } else {
        bp.or(B_INVAL | B_NOCACHE | B_RELBUF);
        brelse_impl(bp);
    }
}

/// vfsync(vp, MNT_LAZY): what the syncer does for each worklist vnode.
fn vfsync_lazy(vn: usize) {
    vfsync_vn(vn, SyncMode::Lazy);
}

/// One pass of the syncer: lazily sync every vnode on the worklist whose
/// delay has expired (all of them when `force`). Returns the number of
/// vnodes synced.
pub(crate) fn syncer_run(force: bool) -> usize {
    let todo: Vec<usize> = {
        let g = lock();
        let delay = g.cfg.syncer_delay;
        let now = Instant::now();
        g.vnodes
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let v = v.as_ref()?;
                let since = v.worklist?;
                (force || now.duration_since(since) >= delay).then_some(i)
            })
            .collect()
    };
    for &vn in &todo {
        vfsync_lazy(vn);
        // Still dirty: move it to a later slot.
        let mut g = lock();
        if let Some(Some(v)) = g.vnodes.get_mut(vn) {
            if v.worklist.is_some() {
                v.worklist = Some(Instant::now());
            }
        }
    }
    todo.len()
}

/// Run the syncer once over every vnode on its worklist (ignoring the
/// delay). Returns the number of vnodes synced.
pub fn syncer_pass() -> usize {
    syncer_run(true)
}

/// The syncer thread.
pub(crate) fn syncer_thread() {
    loop {
        let ticks = {
            let g = lock();
            let hz = g.cfg.hz.max(1) as u128;
            ((g.cfg.syncer_interval.as_nanos() * hz) / 1_000_000_000).max(1) as i32
        };
        {
            let mut g = lock();
            let me = me(&mut g);
            static SYNCER_CHAN: u8 = 0;
            let _ = sleep(
                g,
                me,
                &SYNCER_CHAN as *const u8 as usize,
                0,
                "syncer",
                ticks,
            );
        }
        syncer_run(false);
    }
}

/// How long the syncer waits between passes (for tests that want to wait
/// "one syncer period").
pub fn syncer_period() -> Duration {
    lock().cfg.syncer_interval
}
