//! vn_strategy() and the disk: requests to device vnodes go through a
//! devfs-like strategy step (io_start for non-READ buffers with deps), the
//! disk layer pushes a bio, and the request is queued. A disk thread
//! (threaded mode) carries requests out after a seeded random latency, in
//! completion-time order (so reordering follows from the latencies), and
//! runs biodone() on the completing bio. In deterministic mode requests
//! wait until [`run_pending_io`] / [`run_one_io`] (or a thread that would
//! otherwise sleep forever) runs them, in a seeded order.

use std::format;
use std::prelude::rust_2021::*;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::sys::ffi::{self, BIO_DONE, B_ERROR, B_IODEBUG};

use super::bio::{biodone_impl, push_bio_impl};
use super::bp::{BioP, Bp, CMD_DONE, CMD_FLUSH, CMD_READ, CMD_WRITE};
use super::callout;
use super::device::DevInner;
use super::machine::{assume_identity, lock, lock_raw, me, Kern, DISK_CV};
use super::misc::kpanic;
use super::trace;
use super::vnode::{rec, vn_id};

pub(crate) struct DiskReq {
    pub seq: u64,
    pub bio: BioP,
    pub bp: Bp,
    pub cmd: u32,
    pub off: i64,
    pub len: usize,
    pub skip: Vec<(usize, usize)>,
    pub dev: Arc<DevInner>,
    pub dev_vn: u32,
    pub due: Instant,
}

// SAFETY: the raw pointers inside refer to machine-owned buffers that stay
// allocated while the request is queued (the buffer is busy).
unsafe impl Send for DiskReq {}

#[derive(Default)]
pub(crate) struct DiskState {
    pub pending: Vec<DiskReq>,
    pub seq: u64,
    pub last_due: Option<Instant>,
    /// Requests taken off the queue whose completion is still running.
    pub in_completion: usize,
}

fn pick_latency(g: &mut Kern) -> Duration {
    let (lo, hi) = g.cfg.disk_latency;
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo).as_nanos() as u64;
    lo + Duration::from_nanos(g.rng.below(span + 1))
}

/// vn_strategy(): issue I/O for `bio` on `vp`.
pub(crate) fn vn_strategy_impl(vp: *mut ffi::vnode, bio: *mut ffi::bio) {
    let b = BioP(bio);
    let bp = Bp(b.buf());
    if bp.cmd() == CMD_DONE {
        kpanic("assertion \"bp->b_cmd != BUF_CMD_DONE\" failed in vn_strategy".to_string());
    }
    bp.or(B_IODEBUG);
    let (dev, strategy, dev_vn) = {
        let mut g = lock();
        let vn = vn_id(&g, vp);
        g.st.vn_strategy += 1;
        let r = rec(&g, vn);
        (r.dev.clone(), r.strategy.clone(), vn as u32)
    };
    if b.flags() & BIO_DONE != 0 {
        kpanic("assertion \"(bio->bio_flags & BIO_DONE) == 0\" failed in vn_strategy".to_string());
    }
    let Some(dev) = dev else {
        match strategy {
            Some(f) => {
                f(bio);
                return;
            }
            None => kpanic(format!("vn_strategy: vnode {vp:p} has no strategy routine")),
        }
    };
    // devfs: a non-read buffer with dependencies tells its filesystem.
    if bp.cmd() != CMD_READ && bp.has_deps() {
        callout::buf_start(bp);
    }
    // The disk layer pushes its own translation layer.
    let nbio = push_bio_impl(b);
    nbio.set_offset(b.offset());
    submit(bp, nbio, dev, dev_vn);
}

fn submit(bp: Bp, nbio: BioP, dev: Arc<DevInner>, dev_vn: u32) {
    let mut g = lock();
    let idx = super::bufcache::check(&g, bp.0);
    let cmd = bp.cmd();
    let len = if cmd == CMD_FLUSH {
        0
    } else {
        bp.bcount().max(0) as usize
    };
    let skip = if cmd == CMD_READ {
        g.bufs[idx].bogus.clone()
    } else {
        Vec::new()
    };
    let lat = pick_latency(&mut g);
    let mut due = Instant::now() + lat;
    if !g.cfg.reorder {
        if let Some(last) = g.disk.last_due {
            due = due.max(last);
        }
    }
    g.disk.last_due = Some(due);
    let seq = g.disk.seq;
    g.disk.seq += 1;
    trace::disk_event(
        "disk_submit",
        dev_vn,
        &[cmd as i64, nbio.offset(), len as i64],
    );
    g.disk.pending.push(DiskReq {
        seq,
        bio: nbio,
        bp,
        cmd,
        off: nbio.offset(),
        len,
        skip,
        dev,
        dev_vn,
        due,
    });
    DISK_CV.notify_all();
}

/// Carry out a request and run its completion (no locks held).
fn complete(req: DiskReq) {
    let data = req.bp.data().cast::<u8>();
    if req.len > 0 && data.is_null() && req.cmd != CMD_FLUSH {
        kpanic(format!(
            "disk: {} bytes of I/O on a buffer without data",
            req.len
        ));
    }
    // SAFETY: the buffer is busy (owned by this I/O) and b_data covers
    // b_bcount bytes while it is.
    let res = unsafe { req.dev.perform(req.cmd, req.off, data, req.len, &req.skip) };
    {
        let mut g = lock();
        match req.cmd {
            CMD_READ => g.st.disk_reads += 1,
            CMD_WRITE => g.st.disk_writes += 1,
            CMD_FLUSH => g.st.disk_flushes += 1,
            _ => {}
        }
        if res.is_err() {
            g.st.disk_errors += 1;
        }
    }
    match res {
        Ok(()) => req.bp.set_resid(0),
        Err(e) => {
            req.bp.set_error(e);
            req.bp.or(B_ERROR);
            req.bp.set_resid(req.bp.bcount());
        }
    }
    trace::disk_event(
        "disk_done",
        req.dev_vn,
        &[
            req.cmd as i64,
            req.off,
            req.len as i64,
            res.err().unwrap_or(0) as i64,
        ],
    );
    biodone_impl(req.bio);
}

fn take_next(g: &mut Kern, seeded_pick: bool) -> Option<DiskReq> {
    if g.disk.pending.is_empty() {
        return None;
    }
    let i = if seeded_pick {
        if g.cfg.reorder {
            g.rng.below(g.disk.pending.len() as u64) as usize
        } else {
            0
        }
    } else {
        // earliest due, ties by submission order
        let mut best = 0;
        for (i, r) in g.disk.pending.iter().enumerate() {
            let b = &g.disk.pending[best];
            if (r.due, r.seq) < (b.due, b.seq) {
                best = i;
            }
        }
        best
    };
    g.disk.in_completion += 1;
    Some(g.disk.pending.remove(i))
}

fn finish_one() {
    let mut g = lock_raw();
    g.disk.in_completion -= 1;
    super::machine::CV.notify_all();
}

struct CompletionDone;
impl Drop for CompletionDone {
    fn drop(&mut self) {
        finish_one();
    }
}

/// The disk thread (threaded mode).
pub(crate) fn disk_thread() {
    loop {
        let mut g = lock_raw();
        let req = loop {
            if g.shutdown {
                return;
            }
            let next_due = g.disk.pending.iter().map(|r| r.due).min();
            match next_due {
                None => g = DISK_CV.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        break take_next(&mut g, false).expect("pending request");
                    }
                    g = DISK_CV
                        .wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        };
        drop(g);
        let _done = CompletionDone;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| complete(req))) {
            Ok(()) => {}
            Err(e) if e.is::<super::machine::ShutdownUnwind>() => return,
            Err(e) => {
                let msg = super::machine::panic_payload_text(&e);
                lock_raw().bg_panics.push(format!("disk: {msg}"));
            }
        }
    }
}

/// Deterministic mode: complete one pending request (seeded choice) on the
/// calling OS thread, as the disk's interrupt thread. Returns false if
/// nothing was pending.
pub(crate) fn run_one_inline() -> bool {
    let (req, gen, tid) = {
        let mut g = lock();
        let Some(req) = take_next(&mut g, true) else {
            return false;
        };
        let tid = g.pseudo_tid("disk");
        g.inline_depth += 1;
        (req, g.gen, tid)
    };
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            let mut g = lock_raw();
            g.inline_depth = g.inline_depth.saturating_sub(1);
        }
    }
    let _depth = Depth;
    let _done = CompletionDone;
    let _id = assume_identity(gen, tid);
    complete(req);
    true
}

/// Complete every pending I/O request (deterministic mode: on this
/// thread, in seeded order, including requests issued by the
/// completions themselves; threaded mode: wait for the disk thread to
/// drain its queue). Returns the number of requests completed here.
pub fn run_pending_io() -> usize {
    if lock().cfg.deterministic {
        let mut n = 0;
        while run_one_inline() {
            n += 1;
        }
        n
    } else {
        quiesce_disk();
        0
    }
}

/// Deterministic mode: complete one pending request (seeded choice).
pub fn run_one_io() -> bool {
    if lock().cfg.deterministic {
        run_one_inline()
    } else {
        false
    }
}

/// Number of queued, not yet completed requests.
pub fn pending_io() -> usize {
    let g = lock();
    g.disk.pending.len() + g.disk.in_completion
}

/// Threaded mode: wait until the disk queue is empty and no completion
/// is running.
pub fn quiesce_disk() {
    let mut g = lock();
    let _ = me(&mut g);
    while !g.disk.pending.is_empty() || g.disk.in_completion > 0 {
        if g.cfg.deterministic {
            drop(g);
            run_one_inline();
            g = lock();
            continue;
        }
        g = super::machine::cv_wait_timeout(g, Duration::from_millis(5));
    }
}

/// vn_strategy(): start I/O on a vnode.
///
/// # Safety
/// `vp` must be a vnode of this machine and `bio` a bio of one of its
/// buffers, set up for I/O.
#[no_mangle]
pub unsafe extern "C-unwind" fn vn_strategy(vp: *mut ffi::vnode, bio: *mut ffi::bio) {
    trace::bio_call("vn_strategy", bio, &[BioP(bio).offset()]);
    vn_strategy_impl(vp, bio);
}
