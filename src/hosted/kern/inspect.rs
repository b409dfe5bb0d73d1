//! Inspection: buffer snapshots, queue contents and counters.

use std::prelude::rust_2021::*;

use crate::sys::ffi;

use super::bp::Bp;
use super::bufcache::{
    check, q_list, BQUEUE_CLEAN, BQUEUE_DIRTY, BQUEUE_DIRTY_HW, BQUEUE_EMPTY, BQUEUE_EMPTYKVA,
    BQUEUE_LOCKED, BQUEUE_NONE,
};
use super::buflock::LockOwner;
use super::machine::{lock, Kern};
use super::trace::{buf_id, BufId};
use super::vnode::{rec, vn_id};

/// A buffer free queue (b_qindex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    None,
    Locked,
    Clean,
    Dirty,
    DirtyHw,
    EmptyKva,
    Empty,
}

impl Queue {
    pub(crate) fn from_index(q: u32) -> Queue {
        match q {
            BQUEUE_LOCKED => Queue::Locked,
            BQUEUE_CLEAN => Queue::Clean,
            BQUEUE_DIRTY => Queue::Dirty,
            BQUEUE_DIRTY_HW => Queue::DirtyHw,
            BQUEUE_EMPTYKVA => Queue::EmptyKva,
            BQUEUE_EMPTY => Queue::Empty,
            _ => Queue::None,
        }
    }
    pub(crate) fn index(self) -> u32 {
        match self {
            Queue::None => BQUEUE_NONE,
            Queue::Locked => BQUEUE_LOCKED,
            Queue::Clean => BQUEUE_CLEAN,
            Queue::Dirty => BQUEUE_DIRTY,
            Queue::DirtyHw => BQUEUE_DIRTY_HW,
            Queue::EmptyKva => BQUEUE_EMPTYKVA,
            Queue::Empty => BQUEUE_EMPTY,
        }
    }
}

/// A consistent view of one buffer.
#[derive(Clone, Debug)]
pub struct BufSnapshot {
    pub bp: *mut ffi::buf,
    pub id: BufId,
    pub vnode: u32,
    pub loffset: i64,
    pub bcount: i32,
    pub bufsize: i32,
    pub flags: u32,
    pub queue: Queue,
    pub lock: LockOwner,
    pub cmd: u32,
    pub refs: i32,
    pub error: i32,
    /// LIST_FIRST(&bp->b_dep) (HAMMER's hammer_io, or NULL).
    pub dep_first: *mut ffi::worklist,
    pub ops: *mut ffi::bio_ops,
    pub bio2_offset: i64,
    pub act_count: u8,
    pub pbuf: bool,
}

fn snap(g: &Kern, idx: usize) -> BufSnapshot {
    let r = &g.bufs[idx];
    let bp: Bp = r.bp;
    BufSnapshot {
        bp: bp.0,
        id: buf_id(bp),
        vnode: r.vn as u32,
        loffset: bp.loffset(),
        bcount: bp.bcount(),
        bufsize: bp.bufsize(),
        flags: bp.flags(),
        queue: Queue::from_index(r.qindex),
        lock: r.owner,
        cmd: bp.cmd(),
        refs: bp.refs(),
        error: bp.error(),
        dep_first: bp.dep_first(),
        ops: bp.ops(),
        bio2_offset: bp.bio2().offset(),
        act_count: bp.act_count(),
        pbuf: r.pbuf,
    }
}

/// Snapshot of a buffer of this machine.
pub fn snapshot(bp: *mut ffi::buf) -> BufSnapshot {
    let g = lock();
    let idx = check(&g, bp);
    snap(&g, idx)
}

/// The buffer hashed at (vp, loffset), if any.
pub fn lookup(vp: *mut ffi::vnode, loffset: i64) -> Option<BufSnapshot> {
    let g = lock();
    let vn = vn_id(&g, vp);
    rec(&g, vn).hash.get(&loffset).map(|&i| snap(&g, i))
}

/// Every buffer hashed on a vnode, by offset.
pub fn buffers_of(vp: *mut ffi::vnode) -> Vec<BufSnapshot> {
    let g = lock();
    let vn = vn_id(&g, vp);
    rec(&g, vn).hash.values().map(|&i| snap(&g, i)).collect()
}

/// Every buffer header that is associated with a vnode.
pub fn buffers() -> Vec<BufSnapshot> {
    let g = lock();
    (0..g.bufs.len())
        .filter(|&i| g.bufs[i].vn != 0)
        .map(|i| snap(&g, i))
        .collect()
}

/// The buffers on a queue, head first.
pub fn queue(q: Queue) -> Vec<BufSnapshot> {
    let g = lock();
    q_list(&g, q.index())
        .into_iter()
        .map(|i| snap(&g, i))
        .collect()
}

/// Offsets of the dirty buffers of a vnode (its dirty tree).
pub fn dirty_offsets(vp: *mut ffi::vnode) -> Vec<i64> {
    let g = lock();
    let vn = vn_id(&g, vp);
    rec(&g, vn).dirty.iter().copied().collect()
}

/// Event and state counters of the machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub blocks: u64,
    pub tsleeps: u64,
    pub wakeups: u64,
    pub token_collisions: u64,
    pub buflock_waits: u64,
    pub getblk: u64,
    pub getblk_hits: u64,
    pub getnewbuf: u64,
    pub getnewbuf_restarts: u64,
    pub getnewbuf_sleeps: u64,
    pub recycled: u64,
    pub regetblk: u64,
    pub brelse: u64,
    pub bqrelse: u64,
    pub bdwrite: u64,
    pub bawrite: u64,
    pub bwrite: u64,
    pub biowaits: u64,
    pub cluster_awrite: u64,
    pub cluster_writes: u64,
    pub cluster_reads: u64,
    pub readahead: u64,
    pub vn_strategy: u64,
    pub io_deallocate: u64,
    pub io_start: u64,
    pub io_complete: u64,
    pub io_checkwrite: u64,
    pub io_checkwrite_vetoes: u64,
    pub io_checkread: u64,
    pub io_countdeps: u64,
    pub disk_reads: u64,
    pub disk_writes: u64,
    pub disk_flushes: u64,
    pub disk_errors: u64,
    pub daemon_flushes: u64,
    pub syncer_writes: u64,
    pub syncer_skipped: u64,
    pub runningbuf_waits: u64,
    /// Current values of the buffer-cache globals.
    pub bufspace: i64,
    pub runningbufspace: i64,
    pub dirtybufspace: i64,
    pub dirtybufcount: i64,
}

/// The counters, with the current global values filled in.
pub fn counters() -> Counters {
    let g = lock();
    let mut c = g.st;
    c.bufspace = g.g.bufspace;
    c.runningbufspace = g.g.runningbufspace;
    c.dirtybufspace = g.g.dirtybufspace;
    c.dirtybufcount = g.g.dirtybufcount;
    c
}
