//! The buffer cache: buffer headers, the free queues (LOCKED, CLEAN, DIRTY,
//! DIRTY_HW, EMPTYKVA, EMPTY), the per-vnode hash and clean/dirty trees,
//! and the vfs_bio.c entry points HAMMER uses (getblk, findblk, regetblk,
//! bremfree, bqrelse, brelse, bdwrite, bawrite, bwrite, bundirty, bdirty,
//! breadnx, breadcb, vfs_bio_clrbuf, getpbuf, relpbuf,
//! waitrunningbufspace), with buffer recycling in getnewbuf().
//!
//! Each function follows the kernel's sequence of steps, including where
//! it calls bioops and where it may block.

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::sys::ffi::{
    self, BIO_SYNC, B_AGE, B_BNOCLIP, B_CACHE, B_CLUSTER, B_DEFERRED, B_DELWRI, B_DIRECT, B_EINTR,
    B_ERROR, B_HASBOGUS, B_HASHED, B_HEAVY, B_INVAL, B_LOCKED, B_MALLOC, B_NOCACHE, B_ORDERED,
    B_PAGING, B_RELBUF, B_VMIO, B_VNCLEAN, B_VNDIRTY, FINDBLK_NBLOCK, FINDBLK_REF, FINDBLK_TEST,
    GETBLK_BHEAVY, GETBLK_NOWAIT, GETBLK_PCATCH, GETBLK_SZMATCH, NOOFFSET,
};

use super::bp::{BioP, Bp, Vp, CMD_DONE, CMD_READ, CMD_WRITE};
use super::buflock::{self, kernproc, lock_buf, try_lock, unlock, LockOwner, ENOLCK};
use super::callout::{self, buf_deallocate};
use super::machine::{
    lock, me, Guard, Kern, BKVASIZE, DEV_BSIZE, MAXBSIZE, MAXPHYS, PAGE_MASK, PAGE_SIZE,
};
use super::misc::{kpanic, kprintf};
use super::sleep::{interlock, sleep, wakeup_locked, PINTERLOCKED};
use super::token;
use super::trace;
use super::vm::{page_bits, Mapping, VM_PAGE_BITS_ALL};
use super::vnode::{self, rec, rec_mut, syncer_add, syncer_remove, vn_id};

pub(crate) const BQUEUE_NONE: u32 = 0;
pub(crate) const BQUEUE_LOCKED: u32 = 1;
pub(crate) const BQUEUE_CLEAN: u32 = 2;
pub(crate) const BQUEUE_DIRTY: u32 = 3;
pub(crate) const BQUEUE_DIRTY_HW: u32 = 4;
pub(crate) const BQUEUE_EMPTYKVA: u32 = 5;
pub(crate) const BQUEUE_EMPTY: u32 = 6;
pub(crate) const BUFFER_QUEUES: usize = 7;

const NIL: usize = usize::MAX;
const VFS_BIO_NEED_ANY: i32 = 0x01;
const VFS_BIO_NEED_BUFSPACE: i32 = 0x04;

// Wait channels of the buffer cache.
static NEEDSBUFFER: u8 = 0;
static BD_REQUEST: u8 = 0;
static RUNNINGBUFREQ: u8 = 0;
static PBUF_WAIT: u8 = 0;
static CLUSTER_PBUF: u8 = 0;

pub(crate) fn needsbuffer_ident() -> usize {
    &NEEDSBUFFER as *const u8 as usize
}
pub(crate) fn bd_request_ident() -> usize {
    &BD_REQUEST as *const u8 as usize
}
pub(crate) fn runningbufreq_ident() -> usize {
    &RUNNINGBUFREQ as *const u8 as usize
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct QHead {
    pub head: usize,
    pub tail: usize,
    pub len: usize,
}

impl QHead {
    pub const EMPTY: QHead = QHead {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

/// Environment-private state of one buffer header.
pub(crate) struct BufRec {
    pub bp: Bp,
    pub pbuf: bool,
    pub owner: LockOwner,
    pub qindex: u32,
    qprev: usize,
    qnext: usize,
    /// VM pages mapped at b_data: (vnode id, mapping).
    pub map: Option<(usize, Mapping)>,
    /// Byte ranges of b_data a pending read must not overwrite (pages that
    /// were fully valid when it was issued: the kernel's bogus pages).
    pub bogus: Vec<(usize, usize)>,
    /// Vnode id the buffer is hashed on (0: none).
    pub vn: usize,
}

// ---------------------------------------------------------------------------
// Header pool.

fn alloc_header(g: &mut Kern, pbuf: bool) -> usize {
    let idx = g.bufs.len();
    let bp = Bp(Box::into_raw(Box::new(ffi::buf::default())));
    bp.set_hosted((idx + 1) as *mut c_void);
    g.bufs.push(BufRec {
        bp,
        pbuf,
        owner: LockOwner::Unlocked,
        qindex: BQUEUE_NONE,
        qprev: NIL,
        qnext: NIL,
        map: None,
        bogus: Vec::new(),
        vn: 0,
    });
    initbufbio(bp);
    bp.dep_init();
    bp.mirror_lock(0, buflock::LK_NOTHREAD as *mut ffi::thread);
    bp.set_act_count(ffi::ACT_INIT);
    idx
}

pub(crate) fn init_buffers(g: &mut Kern) {
    g.bufs.clear();
    g.pbuf_free.clear();
    for _ in 0..g.cfg.nbuf {
        let idx = alloc_header(g, false);
        q_insert_tail(g, idx, BQUEUE_EMPTY);
    }
    for _ in 0..g.cfg.nswbuf.max(2) {
        let idx = alloc_header(g, true);
        g.pbuf_free.push(idx);
    }
    g.pbuf_free.reverse();
    g.cluster_pbuf_freecnt = (g.cfg.nswbuf.max(2) / 2) as i32;
}

pub(crate) fn free_buffers(g: &mut Kern) {
    let bufs = std::mem::take(&mut g.bufs);
    for r in bufs {
        if let Some((vn, m)) = r.map {
            if let Some(Some(v)) = g.vnodes.get_mut(vn) {
                v.vm.unmap(m);
            }
        }
        // SAFETY: allocated in alloc_header with Box::into_raw; freed once.
        drop(unsafe { Box::from_raw(r.bp.0) });
    }
    g.pbuf_free.clear();
    g.queues = [QHead::EMPTY; BUFFER_QUEUES];
}

/// The index of a buffer header of this machine; panics for anything else.
pub(crate) fn check(g: &Kern, bp: *mut ffi::buf) -> usize {
    if bp.is_null() {
        kpanic("NULL buffer passed to the buffer cache".to_string());
    }
    let idx = Bp(bp).hosted() as usize;
    if idx == 0 || idx > g.bufs.len() || g.bufs[idx - 1].bp.0 != bp {
        kpanic(format!("{bp:p} is not a buffer of the hosted buffer cache"));
    }
    idx - 1
}

/// initbufbio(): link b_bio1 and b_bio2.
pub(crate) fn initbufbio(bp: Bp) {
    let b1 = bp.bio1();
    let b2 = bp.bio2();
    b1.set_buf(bp.0);
    b1.set_prev(ptr::null_mut());
    b1.set_offset(NOOFFSET);
    b1.set_next(b2.0);
    b1.set_done(None);
    b1.flags_atomic()
        .store(0, core::sync::atomic::Ordering::SeqCst);
    b2.set_buf(bp.0);
    b2.set_prev(b1.0);
    b2.set_offset(NOOFFSET);
    b2.set_next(ptr::null_mut());
    b2.set_done(None);
    b2.flags_atomic()
        .store(0, core::sync::atomic::Ordering::SeqCst);
}

/// reinitbufbio(): forget callbacks and cached translations.
fn reinitbufbio(bp: Bp) {
    let mut bio = bp.bio1().0;
    while !bio.is_null() {
        let b = BioP(bio);
        b.set_done(None);
        b.set_offset(NOOFFSET);
        bio = b.next();
    }
}

/// clearbiocache().
fn clearbiocache(bio: BioP) {
    let mut b = bio.0;
    while !b.is_null() {
        BioP(b).set_offset(NOOFFSET);
        b = BioP(b).next();
    }
}

// ---------------------------------------------------------------------------
// Queues.

pub(crate) fn q_insert_tail(g: &mut Kern, idx: usize, q: u32) {
    debug_assert_eq!(g.bufs[idx].qindex, BQUEUE_NONE);
    let qh = g.queues[q as usize];
    g.bufs[idx].qprev = qh.tail;
    g.bufs[idx].qnext = NIL;
    if qh.tail != NIL {
        g.bufs[qh.tail].qnext = idx;
    } else {
        g.queues[q as usize].head = idx;
    }
    g.queues[q as usize].tail = idx;
    g.queues[q as usize].len += 1;
    g.bufs[idx].qindex = q;
    g.bufs[idx].bp.set_qindex_c(q);
}

pub(crate) fn q_insert_head(g: &mut Kern, idx: usize, q: u32) {
    debug_assert_eq!(g.bufs[idx].qindex, BQUEUE_NONE);
    let qh = g.queues[q as usize];
    g.bufs[idx].qnext = qh.head;
    g.bufs[idx].qprev = NIL;
    if qh.head != NIL {
        g.bufs[qh.head].qprev = idx;
    } else {
        g.queues[q as usize].tail = idx;
    }
    g.queues[q as usize].head = idx;
    g.queues[q as usize].len += 1;
    g.bufs[idx].qindex = q;
    g.bufs[idx].bp.set_qindex_c(q);
}

pub(crate) fn q_remove(g: &mut Kern, idx: usize) {
    let q = g.bufs[idx].qindex;
    if q == BQUEUE_NONE {
        return;
    }
    let (p, n) = (g.bufs[idx].qprev, g.bufs[idx].qnext);
    if p != NIL {
        g.bufs[p].qnext = n;
    } else {
        g.queues[q as usize].head = n;
    }
    if n != NIL {
        g.bufs[n].qprev = p;
    } else {
        g.queues[q as usize].tail = p;
    }
    g.queues[q as usize].len -= 1;
    g.bufs[idx].qprev = NIL;
    g.bufs[idx].qnext = NIL;
    g.bufs[idx].qindex = BQUEUE_NONE;
    g.bufs[idx].bp.set_qindex_c(BQUEUE_NONE);
}

pub(crate) fn q_first(g: &Kern, q: u32) -> Option<usize> {
    let h = g.queues[q as usize].head;
    (h != NIL).then_some(h)
}

pub(crate) fn q_next(g: &Kern, idx: usize) -> Option<usize> {
    let n = g.bufs[idx].qnext;
    (n != NIL).then_some(n)
}

pub(crate) fn q_list(g: &Kern, q: u32) -> Vec<usize> {
    let mut v = Vec::new();
    let mut c = q_first(g, q);
    while let Some(i) = c {
        v.push(i);
        c = q_next(g, i);
    }
    v
}

/// _bremfree(): take a locked buffer off its queue.
pub(crate) fn bremfree_locked(g: &mut Kern, idx: usize) {
    if g.bufs[idx].qindex != BQUEUE_NONE {
        if buflock::count(g, idx) != 1 {
            kpanic(format!("bremfree: bp {:p} not locked", g.bufs[idx].bp.0));
        }
        q_remove(g, idx);
    } else if buflock::count(g, idx) <= 1 {
        kpanic("bremfree: removing a buffer not on a queue".to_string());
    }
}

// ---------------------------------------------------------------------------
// Space accounting and daemon hints.

fn bufspacewakeup(g: &mut Kern) {
    if g.g.needsbuffer & VFS_BIO_NEED_BUFSPACE != 0 {
        g.g.needsbuffer &= !VFS_BIO_NEED_BUFSPACE;
        wakeup_locked(g, needsbuffer_ident());
    }
}

fn bufcountwakeup(g: &mut Kern) {
    if g.g.needsbuffer != 0 {
        g.g.needsbuffer &= !VFS_BIO_NEED_ANY;
        wakeup_locked(g, needsbuffer_ident());
    }
}

/// runningbufwakeup(): I/O accounted in b_runningbufspace finished.
pub(crate) fn runningbufwakeup(g: &mut Kern, bp: Bp) {
    let space = bp.runningbufspace();
    if space != 0 {
        g.g.runningbufspace -= space as i64;
        g.g.runningbufcount -= 1;
        bp.set_runningbufspace(0);
        if g.g.runningbufreq != 0 {
            g.g.runningbufreq = 0;
            wakeup_locked(g, runningbufreq_ident());
        }
    }
}

/// bsetrunningbufspace().
pub(crate) fn bsetrunningbufspace(g: &mut Kern, bp: Bp, bytes: i32) {
    bp.set_runningbufspace(bytes);
    if bytes != 0 {
        g.g.runningbufspace += bytes as i64;
        g.g.runningbufcount += 1;
    }
}

/// bd_speedup(): kick the buffer daemon when enough is dirty.
pub(crate) fn bd_speedup(g: &mut Kern) {
    let nbuf = g.cfg.nbuf as i64;
    if g.g.dirtykvaspace < g.lim.lodirtybufspace && g.g.dirtybufcount < nbuf / 2 {
        return;
    }
    if g.g.bd_request == 0
        && (g.g.dirtykvaspace > g.lim.lodirtybufspace / 2
            || g.g.dirtybufcount - g.g.dirtybufcounthw >= nbuf / 2)
    {
        g.g.bd_request += 1;
        wakeup_locked(g, bd_request_ident());
    }
}

/// bd_heatup().
fn bd_heatup(g: &mut Kern) {
    let mid1 = g.lim.lodirtybufspace + (g.lim.hidirtybufspace - g.lim.lodirtybufspace) / 2;
    let total = g.g.runningbufspace + g.g.dirtykvaspace;
    if total >= mid1 || g.g.dirtybufcount >= g.cfg.nbuf as i64 / 2 {
        bd_speedup(g);
    }
}

fn dirty_account(g: &mut Kern, bp: Bp, sign: i64) {
    g.g.dirtybufcount += sign;
    g.g.dirtykvaspace += sign * bp.kvasize() as i64;
    g.g.dirtybufspace += sign * bp.bufsize() as i64;
    if bp.has(B_HEAVY) {
        g.g.dirtybufcounthw += sign;
        g.g.dirtybufspacehw += sign * bp.bufsize() as i64;
    }
}

// ---------------------------------------------------------------------------
// Vnode association.

/// reassignbuf(): move the buffer between its vnode's clean and dirty
/// trees according to B_DELWRI (caller holds v_token).
fn reassignbuf(g: &mut Kern, idx: usize) {
    let bp = g.bufs[idx].bp;
    let vn = g.bufs[idx].vn;
    if vn == 0 {
        kpanic("reassignbuf: buffer has no vnode".to_string());
    }
    if bp.has(B_PAGING) {
        kpanic("cannot reassign paging buffer".to_string());
    }
    let off = bp.loffset();
    if bp.has(B_DELWRI) {
        if bp.has(B_VNCLEAN) {
            rec_mut(g, vn).clean.remove(&off);
            bp.clear(B_VNCLEAN);
        }
        if !bp.has(B_VNDIRTY) {
            if !rec_mut(g, vn).dirty.insert(off) {
                kpanic(format!("reassignbuf: dup lblk vp bp {:p}", bp.0));
            }
            bp.or(B_VNDIRTY);
        }
        syncer_add(g, vn);
    } else {
        if bp.has(B_VNDIRTY) {
            rec_mut(g, vn).dirty.remove(&off);
            bp.clear(B_VNDIRTY);
        }
        if !bp.has(B_VNCLEAN) {
            if !rec_mut(g, vn).clean.insert(off) {
                kpanic(format!("reassignbuf: dup lblk vp bp {:p}", bp.0));
            }
            bp.or(B_VNCLEAN);
        }
        if rec(g, vn).worklist.is_some() && rec(g, vn).dirty.is_empty() {
            syncer_remove(g, vn);
        }
    }
}

/// bgetvp(): hash the buffer on vnode `vn` at its b_loffset.
fn bgetvp(mut g: Guard, me: u32, idx: usize, vp: *mut ffi::vnode) -> (Guard, bool) {
    let bp = g.bufs[idx].bp;
    if !bp.vp().is_null() {
        kpanic("bgetvp: not free".to_string());
    }
    if bp.has(B_HASHED | B_DELWRI | B_VNCLEAN | B_VNDIRTY) {
        kpanic("bgetvp: buffer still on a vnode".to_string());
    }
    let vn = vn_id(&g, vp);
    let tok = Vp(vp).token_addr();
    g = token::get(g, me, tok);
    let off = bp.loffset();
    let ok = if rec(&g, vn).hash.contains_key(&off) {
        false
    } else {
        rec_mut(&mut g, vn).hash.insert(off, idx);
        rec_mut(&mut g, vn).clean.insert(off);
        g.bufs[idx].vn = vn;
        bp.set_vp(vp);
        bp.or(B_HASHED | B_VNCLEAN);
        let v = Vp(vp);
        v.set_auxrefs(v.auxrefs() + 1);
        true
    };
    token::rel(&mut g, me, tok);
    (g, ok)
}

/// brelvp(): disassociate the buffer from its vnode.
fn brelvp(mut g: Guard, me: u32, idx: usize) -> Guard {
    let bp = g.bufs[idx].bp;
    let vp = bp.vp();
    if vp.is_null() {
        kpanic("brelvp: NULL".to_string());
    }
    let vn = g.bufs[idx].vn;
    let tok = Vp(vp).token_addr();
    g = token::get(g, me, tok);
    let off = bp.loffset();
    if bp.has(B_HASHED) {
        if rec(&g, vn).hash.get(&off) == Some(&idx) {
            rec_mut(&mut g, vn).hash.remove(&off);
        }
        bp.clear(B_HASHED);
    }
    if bp.has(B_VNCLEAN) {
        rec_mut(&mut g, vn).clean.remove(&off);
        bp.clear(B_VNCLEAN);
    }
    if bp.has(B_VNDIRTY) {
        rec_mut(&mut g, vn).dirty.remove(&off);
        bp.clear(B_VNDIRTY);
    }
    if rec(&g, vn).worklist.is_some() && rec(&g, vn).dirty.is_empty() {
        syncer_remove(&mut g, vn);
    }
    bp.set_vp(ptr::null_mut());
    g.bufs[idx].vn = 0;
    token::rel(&mut g, me, tok);
    let v = Vp(vp);
    v.set_auxrefs(v.auxrefs() - 1);
    g
}

// ---------------------------------------------------------------------------
// Pages.

/// allocbuf() for a VMIO buffer: map its pages (size > 0, fresh buffer)
/// or drop them (size == 0).
fn allocbuf(g: &mut Kern, idx: usize, size: i32) {
    let bp = g.bufs[idx].bp;
    if buflock::count(g, idx) == 0 {
        kpanic("allocbuf: buffer not busy".to_string());
    }
    if size == 0 {
        if let Some((vn, m)) = g.bufs[idx].map.take() {
            rec_mut(g, vn).vm.unmap(m);
        }
        bp.set_data(ptr::null_mut());
        if bp.bufsize() != 0 {
            bufspacewakeup(g);
        }
        if bp.has(B_DELWRI) {
            g.g.dirtybufspace -= bp.bufsize() as i64;
        }
        bp.set_bufsize(0);
        bp.set_bcount(0);
        return;
    }
    if g.bufs[idx].map.is_some() {
        kpanic("hosted allocbuf: resizing a buffer that holds pages is not modelled".to_string());
    }
    let newbsize = ((size as i64 + DEV_BSIZE - 1) & !(DEV_BSIZE - 1)) as i32;
    bp.or(B_CACHE); // b_bufsize is 0 here
    let vn = g.bufs[idx].vn;
    let off = bp.loffset();
    if off < 0 {
        kpanic(format!(
            "hosted buffer cache: negative buffer offset {off} not supported"
        ));
    }
    let (m, fresh) = rec_mut(g, vn).vm.map(off, newbsize as i64);
    if fresh || !rec(g, vn).vm.is_valid(off, size as i64) {
        bp.clear(B_CACHE);
    }
    bp.set_data((m.base + (off & PAGE_MASK) as usize) as *mut core::ffi::c_char);
    bp.set_kvabase(m.base as *mut core::ffi::c_char);
    g.bufs[idx].map = Some((vn, m));
    if bp.has(B_DELWRI) {
        g.g.dirtybufspace += (newbsize - bp.bufsize()) as i64;
    }
    bp.set_bufsize(newbsize);
    bp.set_bcount(size);
}

/// vfs_vmio_release(): give the pages back to the VM object and
/// disassociate the buffer from its vnode.
fn vfs_vmio_release(mut g: Guard, me: u32, idx: usize) -> Guard {
    let bp = g.bufs[idx].bp;
    if let Some((vn, m)) = g.bufs[idx].map.take() {
        rec_mut(&mut g, vn).vm.unmap(m);
    }
    bp.set_data(ptr::null_mut());
    if bp.bufsize() != 0 {
        bufspacewakeup(&mut g);
        bp.set_bufsize(0);
    }
    bp.clear(B_VMIO);
    if bp.has_deps() {
        drop(g);
        kpanic(
            "assertion \"LIST_FIRST(&bp->b_dep) == NULL\" failed in vfs_vmio_release".to_string(),
        );
    }
    if !bp.vp().is_null() {
        g = brelvp(g, me, idx);
    }
    g
}

/// The VM object and file-offset window of a buffer's pages.
fn vm_range(g: &Kern, idx: usize) -> Option<(usize, i64, i64)> {
    let bp = g.bufs[idx].bp;
    let (vn, m) = g.bufs[idx].map?;
    let data = bp.data() as usize;
    // file offset of b_data
    let foff = m.pindex as i64 * PAGE_SIZE + (data - m.base) as i64;
    Some((vn, foff, bp.bufsize() as i64))
}

/// vfs_busy_pages(): before I/O. Reads skip pages that are already fully
/// valid (the kernel maps bogus_page there); writes mark the range valid.
pub(crate) fn vfs_busy_pages(g: &mut Kern, idx: usize) {
    let bp = g.bufs[idx].bp;
    let cmd = bp.cmd();
    if cmd == CMD_DONE {
        kpanic("assertion \"bp->b_cmd != BUF_CMD_DONE\" failed in vfs_busy_pages".to_string());
    }
    if cmd != CMD_WRITE && bp.has(B_CACHE) {
        kpanic("assertion \"bp->b_cmd == BUF_CMD_WRITE || (bp->b_flags & B_CACHE) == 0\" failed in vfs_busy_pages".to_string());
    }
    g.bufs[idx].bogus.clear();
    if !bp.has(B_VMIO) {
        return;
    }
    let Some((vn, foff, len)) = vm_range(g, idx) else {
        return;
    };
    if cmd == CMD_READ {
        let data = bp.data() as usize;
        let (_, m) = g.bufs[idx].map.expect("mapped");
        let mut bogus = Vec::new();
        for i in 0..m.npages {
            let pidx = m.pindex + i as u64;
            if rec(g, vn).vm.page_valid(pidx) == VM_PAGE_BITS_ALL {
                let pstart = m.base + i * PAGE_SIZE as usize;
                let s = pstart.saturating_sub(data);
                let e = (pstart + PAGE_SIZE as usize).saturating_sub(data);
                if e > s {
                    bogus.push((s, e));
                }
            }
        }
        if !bogus.is_empty() {
            bp.or(B_HASBOGUS);
        }
        g.bufs[idx].bogus = bogus;
    } else if cmd == CMD_WRITE {
        rec_mut(g, vn)
            .vm
            .set_valid(foff, len.min(bp.bcount() as i64));
    }
}

/// vfs_clean_pages(): mark the buffer's range valid.
pub(crate) fn vfs_clean_pages(g: &mut Kern, idx: usize) {
    let bp = g.bufs[idx].bp;
    if !bp.has(B_VMIO) {
        return;
    }
    if let Some((vn, foff, _)) = vm_range(g, idx) {
        rec_mut(g, vn).vm.set_valid(foff, bp.bcount() as i64);
    }
}

/// Read completion (bpdone): pages are validated up to the page holding
/// the last byte transferred (b_bcount - b_resid); a read that moved
/// nothing validates nothing.
pub(crate) fn vfs_read_done_pages(g: &mut Kern, idx: usize) {
    let bp = g.bufs[idx].bp;
    if !bp.has(B_VMIO) {
        return;
    }
    let iosize = (bp.bcount() - bp.resid()) as i64;
    if iosize <= 0 {
        return;
    }
    if let Some((vn, foff, _)) = vm_range(g, idx) {
        let xoff = foff & PAGE_MASK;
        let end = ((xoff + iosize + PAGE_MASK) & !PAGE_MASK) - xoff;
        let len = end.min(bp.bcount() as i64);
        rec_mut(g, vn).vm.set_valid(foff, len);
    }
}

// ---------------------------------------------------------------------------
// Dirtying.

/// bdirty(): make the buffer a delayed write.
pub(crate) fn bdirty_locked(mut g: Guard, me: u32, idx: usize) -> Guard {
    let bp = g.bufs[idx].bp;
    if g.bufs[idx].qindex != BQUEUE_NONE {
        let q = g.bufs[idx].qindex;
        drop(g);
        kpanic(format!("bdirty: buffer {:p} still on queue {q}", bp.0));
    }
    if bp.has(B_NOCACHE) {
        kprintf(&format!("bdirty: clearing B_NOCACHE on buf {:p}\n", bp.0));
        bp.clear(B_NOCACHE);
    }
    if bp.has(B_INVAL) {
        kprintf(&format!(
            "bdirty: warning, dirtying invalid buffer {:p}\n",
            bp.0
        ));
    }
    bp.clear(B_RELBUF);
    if !bp.has(B_DELWRI) {
        let vp = bp.vp();
        if vp.is_null() {
            drop(g);
            kpanic("bdirty: buffer has no vnode".to_string());
        }
        let tok = Vp(vp).token_addr();
        g = token::get(g, me, tok);
        bp.or(B_DELWRI);
        reassignbuf(&mut g, idx);
        token::rel(&mut g, me, tok);
        dirty_account(&mut g, bp, 1);
        bd_heatup(&mut g);
    }
    g
}

/// bundirty(): clear the delayed-write state.
pub(crate) fn bundirty_locked(mut g: Guard, me: u32, idx: usize) -> Guard {
    let bp = g.bufs[idx].bp;
    if bp.has(B_DELWRI) {
        let vp = bp.vp();
        if vp.is_null() {
            drop(g);
            kpanic("bundirty: dirty buffer has no vnode".to_string());
        }
        let tok = Vp(vp).token_addr();
        g = token::get(g, me, tok);
        bp.clear(B_DELWRI);
        reassignbuf(&mut g, idx);
        token::rel(&mut g, me, tok);
        dirty_account(&mut g, bp, -1);
    }
    bp.clear(B_DEFERRED);
    g
}

// ---------------------------------------------------------------------------
// Release.

/// bqrelse(): requeue without destroying anything.
pub(crate) fn bqrelse_impl(bp: Bp) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    g.st.bqrelse += 1;
    if bp.has(B_CLUSTER | B_PAGING) {
        drop(g);
        kpanic("bqrelse: inappropriate B_PAGING or B_CLUSTER bp".to_string());
    }
    if g.bufs[idx].qindex != BQUEUE_NONE {
        drop(g);
        kpanic("bqrelse: free buffer onto another queue???".to_string());
    }
    // buf_act_advance()
    let a = bp.act_count();
    bp.set_act_count(if a > ffi::ACT_MAX - ffi::ACT_ADVANCE {
        ffi::ACT_MAX
    } else {
        a + ffi::ACT_ADVANCE
    });
    let f = bp.flags();
    if f & B_LOCKED != 0 {
        q_insert_tail(&mut g, idx, BQUEUE_LOCKED);
    } else if f & B_DELWRI != 0 {
        let q = if f & B_HEAVY != 0 {
            BQUEUE_DIRTY_HW
        } else {
            BQUEUE_DIRTY
        };
        q_insert_tail(&mut g, idx, q);
    } else if g.cfg.vm_shortage {
        drop(g);
        brelse_impl(bp);
        return;
    } else {
        q_insert_tail(&mut g, idx, BQUEUE_CLEAN);
    }
    let f = bp.flags();
    if f & B_LOCKED == 0 && (f & B_INVAL != 0 || f & B_DELWRI == 0) {
        bufcountwakeup(&mut g);
    }
    if bp.bufsize() != 0 && f & B_DELWRI == 0 {
        bufspacewakeup(&mut g);
    }
    bp.clear(B_ORDERED | B_NOCACHE | B_RELBUF);
    unlock(&mut g, me, idx);
}

/// brelse(): release, destroying the buffer's identity and/or pages as
/// the flags ask.
pub(crate) fn brelse_impl(bp: Bp) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    g.st.brelse += 1;
    if bp.has(B_CLUSTER | B_PAGING) {
        drop(g);
        kpanic("brelse: inappropriate B_PAGING or B_CLUSTER bp".to_string());
    }
    // (1) destroying the backing store of a dirty buffer: undirty it.
    if bp.flags() & (B_NOCACHE | B_DELWRI) == (B_NOCACHE | B_DELWRI) {
        g = bundirty_locked(g, me, idx);
    }
    // (2) invalidation.
    let f = bp.flags();
    if f & (B_INVAL | B_DELWRI) == B_DELWRI {
        // a re-dirtied buffer is only destroyed by B_INVAL
    } else if f & (B_NOCACHE | B_INVAL | B_ERROR) != 0 || bp.bufsize() <= 0 {
        bp.or(B_INVAL);
        if bp.has_deps() {
            drop(g);
            buf_deallocate(bp);
            g = lock();
        }
        if bp.has(B_DELWRI) {
            dirty_account(&mut g, bp, -1);
        }
        bp.clear(B_DELWRI | B_CACHE);
    }
    // (3) B_RELBUF only for buffers nobody needs to keep.
    if bp.has(B_DELWRI | B_LOCKED) || bp.refs() != 0 {
        bp.clear(B_RELBUF);
    } else if g.cfg.vm_shortage {
        if bp.has_deps() {
            drop(g);
            buf_deallocate(bp);
            g = lock();
        }
        if bp.has(B_DELWRI | B_LOCKED) {
            bp.clear(B_RELBUF);
        } else {
            bp.or(B_RELBUF);
        }
    }
    // (4) page rundown.
    bp.set_cmd(CMD_DONE);
    if bp.has(B_VMIO) {
        if bp.has(B_NOCACHE | B_ERROR) {
            if let Some((vn, foff, len)) = vm_range(&g, idx) {
                rec_mut(&mut g, vn).vm.set_invalid(foff, len);
            }
        }
        if bp.has(B_INVAL | B_RELBUF) {
            g = vfs_vmio_release(g, me, idx);
        }
    } else if bp.has(B_INVAL | B_RELBUF) {
        if bp.bufsize() != 0 {
            allocbuf(&mut g, idx, 0);
        }
        if bp.has_deps() {
            drop(g);
            kpanic("assertion \"LIST_FIRST(&bp->b_dep) == NULL\" failed in brelse".to_string());
        }
        if !bp.vp().is_null() {
            g = brelvp(g, me, idx);
        }
    }
    if g.bufs[idx].qindex != BQUEUE_NONE {
        drop(g);
        kpanic("brelse: free buffer onto another queue???".to_string());
    }
    // (5) queue placement.
    let f = bp.flags();
    if f & B_LOCKED != 0 {
        q_insert_tail(&mut g, idx, BQUEUE_LOCKED);
    } else if bp.bufsize() == 0 {
        bp.or(B_INVAL);
        if !bp.vp().is_null() || bp.has(B_HASHED) {
            drop(g);
            kpanic(format!(
                "bp1 {:p} flags {f:08x} unexpectedly still associated!",
                bp.0
            ));
        }
        let q = if bp.kvasize() != 0 {
            BQUEUE_EMPTYKVA
        } else {
            BQUEUE_EMPTY
        };
        q_insert_head(&mut g, idx, q);
    } else if f & (B_INVAL | B_NOCACHE | B_RELBUF) != 0 {
        if !bp.vp().is_null() || bp.has(B_HASHED) {
            drop(g);
            kpanic(format!(
                "bp2 {:p} flags {f:08x} unexpectedly still associated!",
                bp.0
            ));
        }
        bp.or(B_INVAL);
        q_insert_head(&mut g, idx, BQUEUE_CLEAN);
    } else {
        match f & (B_DELWRI | B_HEAVY) {
            x if x == B_DELWRI => q_insert_tail(&mut g, idx, BQUEUE_DIRTY),
            x if x == B_DELWRI | B_HEAVY => q_insert_tail(&mut g, idx, BQUEUE_DIRTY_HW),
            _ => q_insert_tail(&mut g, idx, BQUEUE_CLEAN),
        }
    }
    if bp.flags() & (B_INVAL | B_DELWRI) == (B_INVAL | B_DELWRI) {
        g = bundirty_locked(g, me, idx);
    }
    if !bp.has(B_LOCKED | B_DELWRI) {
        bufcountwakeup(&mut g);
    }
    if bp.bufsize() != 0 || bp.kvasize() != 0 {
        bufspacewakeup(&mut g);
    }
    // (6) unlock.
    bp.clear(B_ORDERED | B_NOCACHE | B_RELBUF | B_DIRECT);
    unlock(&mut g, me, idx);
}

/// bdwrite(): delayed write; no I/O and no bioops call.
pub(crate) fn bdwrite_impl(bp: Bp) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    g.st.bdwrite += 1;
    if buflock::count(&g, idx) == 0 {
        drop(g);
        kpanic("bdwrite: buffer is not busy".to_string());
    }
    if bp.has(B_INVAL) {
        drop(g);
        brelse_impl(bp);
        return;
    }
    g = bdirty_locked(g, me, idx);
    bp.or(B_CACHE);
    if bp.bio2().offset() == NOOFFSET {
        let vn = g.bufs[idx].vn;
        match vnode::bmap(&g, vn, bp.loffset()) {
            None if rec(&g, vn).dev.is_some() => bp.bio2().set_offset(bp.loffset()),
            None => {}
            Some(f) => {
                drop(g);
                let d = f(bp.loffset());
                bp.bio2().set_offset(d);
                g = lock();
            }
        }
    }
    vfs_clean_pages(&mut g, idx);
    drop(g);
    bqrelse_impl(bp);
}

/// bawrite(): asynchronous write, released on completion.
pub(crate) fn bawrite_impl(bp: Bp) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    g.st.bawrite += 1;
    if bp.has(B_INVAL) {
        drop(g);
        brelse_impl(bp);
        return;
    }
    if buflock::count(&g, idx) == 0 {
        drop(g);
        kpanic("bwrite: buffer is not busy???".to_string());
    }
    g = bundirty_locked(g, me, idx);
    bp.clear(B_ERROR | B_EINTR);
    bp.or(B_CACHE);
    bp.set_cmd(CMD_WRITE);
    if bp.bio1().done().is_some() {
        drop(g);
        kpanic("assertion \"bp->b_bio1.bio_done == NULL\" failed in bawrite".to_string());
    }
    vfs_busy_pages(&mut g, idx);
    let size = bp.bufsize();
    bsetrunningbufspace(&mut g, bp, size);
    kernproc(&mut g, me, idx);
    let vp = bp.vp();
    drop(g);
    super::disk::vn_strategy_impl(vp, bp.bio1().0);
}

/// bwrite(): synchronous write, then brelse().
pub(crate) fn bwrite_impl(bp: Bp) -> i32 {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    g.st.bwrite += 1;
    if bp.has(B_INVAL) {
        drop(g);
        brelse_impl(bp);
        return 0;
    }
    if buflock::count(&g, idx) == 0 {
        drop(g);
        kpanic("bwrite: buffer is not busy???".to_string());
    }
    g = bundirty_locked(g, me, idx);
    bp.clear(B_ERROR | B_EINTR);
    bp.or(B_CACHE);
    bp.set_cmd(CMD_WRITE);
    bp.bio1()
        .set_done(callout::biodone_fn(super::bio::biodone_sync));
    bp.bio1().or_flags(BIO_SYNC);
    vfs_busy_pages(&mut g, idx);
    let size = bp.bufsize();
    bsetrunningbufspace(&mut g, bp, size);
    let vp = bp.vp();
    drop(g);
    super::disk::vn_strategy_impl(vp, bp.bio1().0);
    let err = super::bio::biowait_impl(bp.bio1(), "biows");
    brelse_impl(bp);
    err
}

// ---------------------------------------------------------------------------
// Lookup and allocation.

/// findblk().
pub(crate) fn findblk_impl(vp: *mut ffi::vnode, loffset: i64, flags: i32) -> *mut ffi::buf {
    loop {
        let mut g = lock();
        let me = me(&mut g);
        let vn = vn_id(&g, vp);
        let tok = Vp(vp).token_addr();
        g = token::get(g, me, tok);
        let Some(&idx) = rec(&g, vn).hash.get(&loffset) else {
            token::rel(&mut g, me, tok);
            return ptr::null_mut();
        };
        let bp = g.bufs[idx].bp;
        bp.set_refs(bp.refs() + 1);
        token::rel(&mut g, me, tok);
        if flags & FINDBLK_TEST != 0 {
            if flags & FINDBLK_REF == 0 {
                bp.set_refs(bp.refs() - 1);
            }
            return bp.0;
        }
        let locked = if flags & FINDBLK_NBLOCK != 0 {
            try_lock(&mut g, me, idx).is_ok()
        } else {
            let (g2, e) = lock_buf(g, me, idx, false, 0);
            g = g2;
            e == 0
        };
        if !locked {
            bp.set_refs(bp.refs() - 1);
            return ptr::null_mut();
        }
        if bp.vp() == vp && bp.loffset() == loffset {
            if flags & FINDBLK_REF == 0 {
                bp.set_refs(bp.refs() - 1);
            }
            return bp.0;
        }
        bp.set_refs(bp.refs() - 1);
        unlock(&mut g, me, idx);
    }
}

/// getnewbuf(): find a header to (re)use, recycling CLEAN buffers (with
/// io_deallocate for buffers a filesystem still has deps on). Returns the
/// header locked, off all queues and disassociated, or None after
/// sleeping for buffer space (the caller retries).
fn getnewbuf(blkflags: i32, slptimeo: i32) -> Option<Bp> {
    {
        lock().st.getnewbuf += 1;
    }
    'restart: loop {
        let mut g = lock();
        let me = me(&mut g);
        let mut nq = BQUEUE_EMPTYKVA;
        let mut nbp = q_first(&g, BQUEUE_EMPTYKVA);
        if nbp.is_none() {
            if g.g.bufspace >= g.lim.lobufspace {
                nq = BQUEUE_CLEAN;
                nbp = q_first(&g, BQUEUE_CLEAN);
            }
            if nbp.is_none() && g.g.bufspace + BKVASIZE < g.lim.hibufspace {
                nq = BQUEUE_EMPTY;
                nbp = q_first(&g, BQUEUE_EMPTY);
            }
        }
        let mut found: Option<(usize, u32)> = None;
        while let Some(idx) = nbp {
            let qindex = nq;
            nbp = q_next(&g, idx);
            let bp = g.bufs[idx].bp;
            // The B_AGE second chance on the CLEAN queue.
            if qindex == BQUEUE_CLEAN && !bp.has(B_AGE) && nbp.is_some() {
                bp.or(B_AGE);
                q_remove(&mut g, idx);
                q_insert_tail(&mut g, idx, qindex);
                continue;
            }
            if nbp.is_none() {
                if qindex == BQUEUE_EMPTY {
                    nq = BQUEUE_EMPTYKVA;
                    nbp = q_first(&g, BQUEUE_EMPTYKVA);
                }
                if nbp.is_none() && (qindex == BQUEUE_EMPTY || qindex == BQUEUE_EMPTYKVA) {
                    nq = BQUEUE_CLEAN;
                    nbp = q_first(&g, BQUEUE_CLEAN);
                }
            }
            if g.bufs[idx].qindex != qindex {
                drop(g);
                kpanic(format!(
                    "getnewbuf: inconsistent queue {qindex} bp {:p}",
                    bp.0
                ));
            }
            if bp.has(B_DELWRI) {
                drop(g);
                kpanic(format!("delwri buffer {:p} found in queue {qindex}", bp.0));
            }
            if bp.refs() != 0 {
                continue;
            }
            if try_lock(&mut g, me, idx).is_err() {
                g.st.getnewbuf_restarts += 1;
                let t = (g.cfg.hz + 99) / 100;
                let (g2, _) = sleep(g, me, bd_request_ident(), 0, "gnbxxx", t);
                drop(g2);
                continue 'restart;
            }
            if g.bufs[idx].qindex != qindex || bp.refs() != 0 {
                unlock(&mut g, me, idx);
                g.st.getnewbuf_restarts += 1;
                continue 'restart;
            }
            bremfree_locked(&mut g, idx);
            found = Some((idx, qindex));
            break;
        }
        let Some((idx, qindex)) = found else {
            // Nothing reusable: ask the daemon for help and wait.
            let flags = if g.g.bufspace >= g.lim.hibufspace {
                VFS_BIO_NEED_BUFSPACE
            } else {
                VFS_BIO_NEED_ANY
            };
            g.st.getnewbuf_sleeps += 1;
            bd_speedup(&mut g);
            g.g.needsbuffer |= flags;
            let slp = if blkflags & GETBLK_PCATCH != 0 {
                0x100
            } else {
                0
            };
            while g.g.needsbuffer & flags != 0 {
                interlock(&mut g, me, needsbuffer_ident());
                if g.g.needsbuffer & flags != 0 {
                    let (g2, err) = sleep(
                        g,
                        me,
                        needsbuffer_ident(),
                        PINTERLOCKED | slp,
                        "newbuf",
                        slptimeo,
                    );
                    g = g2;
                    if err != 0 {
                        return None;
                    }
                }
            }
            return None;
        };
        let bp = g.bufs[idx].bp;
        drop(g);
        // Dependencies are dealt with before the vnode goes.
        if bp.has_deps() {
            buf_deallocate(bp);
            if bp.has(B_LOCKED) {
                lock().st.getnewbuf_restarts += 1;
                bqrelse_impl(bp);
                continue 'restart;
            }
            if bp.has_deps() {
                kpanic(
                    "assertion \"LIST_FIRST(&bp->b_dep) == NULL\" failed in getnewbuf".to_string(),
                );
            }
        }
        let mut g = lock();
        if qindex == BQUEUE_CLEAN {
            trace::buf_call("getnewbuf_recycle", bp, &[]);
            g.st.recycled += 1;
            if bp.has(B_VMIO) {
                g = vfs_vmio_release(g, me, idx);
            }
            if !bp.vp().is_null() {
                g = brelvp(g, me, idx);
            }
        }
        if !bp.vp().is_null() || bp.has(B_HASHED) {
            drop(g);
            kpanic(format!(
                "bp3 {:p} vnode unexpectedly still associated!",
                bp.0
            ));
        }
        if bp.bufsize() != 0 {
            allocbuf(&mut g, idx, 0);
        }
        bp.set_flags(B_BNOCLIP);
        bp.set_cmd(CMD_DONE);
        bp.set_vp(ptr::null_mut());
        bp.set_error(0);
        bp.set_resid(0);
        bp.set_bcount(0);
        bp.set_dirtyoff(0);
        bp.set_dirtyend(0);
        bp.set_act_count(ffi::ACT_INIT);
        reinitbufbio(bp);
        bp.dep_init();
        g.bufs[idx].bogus.clear();
        if blkflags & GETBLK_BHEAVY != 0 {
            bp.or(B_HEAVY);
        }
        if bp.refs() != 0 {
            bp.or(B_INVAL);
            drop(g);
            brelse_impl(bp);
            continue 'restart;
        }
        if bp.kvasize() as i64 != BKVASIZE {
            g.g.bufspace -= bp.kvasize() as i64;
            bp.set_kvasize(BKVASIZE as i32);
            g.g.bufspace += BKVASIZE;
        }
        return Some(bp);
    }
}

/// getblk().
pub(crate) fn getblk_impl(
    vp: *mut ffi::vnode,
    loffset: i64,
    size: i32,
    blkflags: i32,
    slptimeo: i32,
) -> *mut ffi::buf {
    if size as i64 > MAXBSIZE {
        kpanic(format!("getblk: size({size}) > MAXBSIZE({MAXBSIZE})"));
    }
    {
        let mut g = lock();
        let _ = vn_id(&g, vp);
        g.st.getblk += 1;
    }
    loop {
        let found = findblk_impl(vp, loffset, FINDBLK_REF | FINDBLK_TEST);
        if !found.is_null() {
            let bp = Bp(found);
            let mut g = lock();
            let me = me(&mut g);
            let idx = check(&g, found);
            if try_lock(&mut g, me, idx).is_err() {
                if blkflags & GETBLK_NOWAIT != 0 {
                    bp.set_refs(bp.refs() - 1);
                    return ptr::null_mut();
                }
                let (g2, err) = lock_buf(g, me, idx, true, slptimeo);
                g = g2;
                if err != 0 {
                    bp.set_refs(bp.refs() - 1);
                    if err == ENOLCK {
                        continue;
                    }
                    return ptr::null_mut();
                }
            }
            bp.set_refs(bp.refs() - 1);
            if bp.vp() != vp || bp.loffset() != loffset {
                kprintf(&format!(
                    "Warning buffer {:p} (vp {vp:p} loffset {loffset}) was recycled\n",
                    bp.0
                ));
                unlock(&mut g, me, idx);
                continue;
            }
            if blkflags & GETBLK_SZMATCH != 0 && size != bp.bcount() {
                unlock(&mut g, me, idx);
                return ptr::null_mut();
            }
            if !bp.has(B_VMIO) || bp.cmd() != CMD_DONE {
                drop(g);
                kpanic("assertion \"bp->b_flags & B_VMIO\" / \"bp->b_cmd == BUF_CMD_DONE\" failed in getblk".to_string());
            }
            g.st.getblk_hits += 1;
            bp.clear(B_AGE);
            if bp.has(B_INVAL) && bp.bio2().offset() != NOOFFSET {
                kprintf(&format!(
                    "Warning invalid buffer {:p} (vp {vp:p} loffset {loffset}) did not have cleared bio_offset cache\n",
                    bp.0
                ));
                clearbiocache(bp.bio2());
            }
            if bp.has(B_INVAL) {
                bp.clear(B_CACHE);
            }
            bremfree_locked(&mut g, idx);
            drop(g);
            if size != bp.bcount() {
                bp.or(B_RELBUF);
                if bp.has(B_DELWRI) || bp.has_deps() {
                    bwrite_impl(bp);
                } else {
                    brelse_impl(bp);
                }
                continue;
            }
            if bp.flags() & (B_CACHE | B_DELWRI) == B_DELWRI {
                kprintf(&format!(
                    "getblk: Warning, bp {:p} loff={loffset:x} DELWRI set and CACHE clear, b_flags {:08x}\n",
                    bp.0,
                    bp.flags()
                ));
                bp.or(B_NOCACHE);
                bwrite_impl(bp);
                continue;
            }
            return found;
        }
        let Some(bp) = getnewbuf(blkflags, slptimeo) else {
            if blkflags & GETBLK_PCATCH != 0 || slptimeo != 0 {
                return ptr::null_mut();
            }
            continue;
        };
        bp.set_loffset(loffset);
        bp.bio2().set_offset(NOOFFSET);
        let mut g = lock();
        let me = me(&mut g);
        let idx = check(&g, bp.0);
        let (g2, ok) = bgetvp(g, me, idx, vp);
        g = g2;
        if !ok {
            bp.or(B_INVAL);
            drop(g);
            brelse_impl(bp);
            continue;
        }
        bp.or(B_VMIO);
        allocbuf(&mut g, idx, size);
        return bp.0;
    }
}

/// regetblk(): reacquire a buffer that is B_LOCKED or has deps, waiting
/// for any I/O that owns it.
pub(crate) fn regetblk_impl(bp: Bp) {
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp.0);
    if !bp.has(B_LOCKED) && !bp.has_deps() {
        drop(g);
        kpanic("assertion \"(bp->b_flags & B_LOCKED) || LIST_FIRST(&bp->b_dep) != NULL\" failed in regetblk".to_string());
    }
    g.st.regetblk += 1;
    let (mut g, _) = lock_buf(g, me, idx, false, 0);
    bremfree_locked(&mut g, idx);
}

/// breadnx(): bread with optional read-ahead.
pub(crate) fn breadnx_impl(
    vp: *mut ffi::vnode,
    loffset: i64,
    size: i32,
    raoffset: *const i64,
    rabsize: *const c_int,
    cnt: i32,
    bpp: *mut *mut ffi::buf,
) -> i32 {
    // SAFETY: bpp is the caller's out-parameter.
    let mut bp = unsafe { *bpp };
    if bp.is_null() {
        bp = getblk_impl(vp, loffset, size, 0, 0);
        // SAFETY: as above.
        unsafe { *bpp = bp };
    }
    let b = Bp(bp);
    let mut readwait = false;
    if !b.has(B_CACHE) {
        b.clear(B_ERROR | B_EINTR | B_INVAL);
        b.set_cmd(CMD_READ);
        b.bio1()
            .set_done(callout::biodone_fn(super::bio::biodone_sync));
        b.bio1().or_flags(BIO_SYNC);
        {
            let mut g = lock();
            let idx = check(&g, bp);
            vfs_busy_pages(&mut g, idx);
        }
        super::disk::vn_strategy_impl(vp, b.bio1().0);
        readwait = true;
    }
    for i in 0..cnt.max(0) as usize {
        // SAFETY: the caller passes `cnt` read-ahead offsets and sizes.
        let (ro, rs) = unsafe { (*raoffset.add(i), *rabsize.add(i)) };
        if inmem(vp, ro) {
            continue;
        }
        let rabp = Bp(getblk_impl(vp, ro, rs, 0, 0));
        if !rabp.has(B_CACHE) {
            rabp.clear(B_ERROR | B_EINTR | B_INVAL);
            rabp.set_cmd(CMD_READ);
            {
                let mut g = lock();
                let me = me(&mut g);
                let idx = check(&g, rabp.0);
                vfs_busy_pages(&mut g, idx);
                kernproc(&mut g, me, idx);
                g.st.readahead += 1;
            }
            super::disk::vn_strategy_impl(vp, rabp.bio1().0);
        } else {
            brelse_impl(rabp);
        }
    }
    if readwait {
        super::bio::biowait_impl(b.bio1(), "biord")
    } else {
        0
    }
}

/// inmem(): is the block cached (device vnodes have no mount, so only the
/// buffer hash is consulted, as in the kernel).
fn inmem(vp: *mut ffi::vnode, loffset: i64) -> bool {
    !findblk_impl(vp, loffset, FINDBLK_TEST).is_null()
}

/// breadcb(): asynchronous read with a callback; synchronous callback if
/// the buffer is already valid.
pub(crate) fn breadcb_impl(
    vp: *mut ffi::vnode,
    loffset: i64,
    size: i32,
    func: ffi::biodone_t,
    arg: *mut c_void,
) {
    let b = Bp(getblk_impl(vp, loffset, size, 0, 0));
    if !b.has(B_CACHE) {
        b.clear(B_ERROR | B_EINTR | B_INVAL);
        b.set_cmd(CMD_READ);
        b.bio1().set_done(func);
        b.bio1().set_caller1_ptr(arg);
        {
            let mut g = lock();
            let me = me(&mut g);
            let idx = check(&g, b.0);
            vfs_busy_pages(&mut g, idx);
            kernproc(&mut g, me, idx);
        }
        super::disk::vn_strategy_impl(vp, b.bio1().0);
    } else if let Some(f) = func {
        b.bio1().set_caller1_ptr(arg);
        b.bio1().or_flags(ffi::BIO_DONE);
        callout::call_biodone(f, b.bio1());
    } else {
        bqrelse_impl(b);
    }
}

/// vfs_bio_clrbuf(): zero only the parts of the buffer whose pages are not
/// yet valid and mark them valid; valid data is kept.
pub(crate) fn vfs_bio_clrbuf_impl(bp: Bp) {
    let mut g = lock();
    let idx = check(&g, bp.0);
    if bp.flags() & (B_VMIO | B_MALLOC) == B_VMIO {
        bp.clear(B_INVAL | B_EINTR | B_ERROR);
        let Some((vn, m)) = g.bufs[idx].map else {
            drop(g);
            kpanic("vfs_bio_clrbuf: VMIO buffer without pages".to_string());
        };
        let data = bp.data() as usize;
        let foff0 = m.pindex as i64 * PAGE_SIZE + (data - m.base) as i64;
        let fend = foff0 + bp.bufsize() as i64;
        for i in 0..m.npages {
            let pidx = m.pindex + i as u64;
            let pstart = pidx as i64 * PAGE_SIZE;
            let sa = pstart.max(foff0);
            let ea = (pstart + PAGE_SIZE).min(fend);
            if ea <= sa {
                continue;
            }
            let mask = page_bits(sa - pstart, ea - sa);
            let valid = rec(&g, vn).vm.page_valid(pidx);
            if valid & mask == mask {
                continue;
            }
            let zero = |from: i64, to: i64| {
                let p = (data as i64 + (from - foff0)) as *mut u8;
                // SAFETY: [from, to) lies within the buffer's mapped data.
                unsafe { ptr::write_bytes(p, 0, (to - from) as usize) };
            };
            if valid & mask == 0 {
                zero(sa, ea);
            } else {
                let mut c = sa;
                while c < ea {
                    let bit = ((c - pstart) / DEV_BSIZE) as u8;
                    let cend = (pstart + (bit as i64 + 1) * DEV_BSIZE).min(ea);
                    if valid & (1 << bit) == 0 {
                        zero(c, cend);
                    }
                    c = cend;
                }
            }
            rec_mut(&mut g, vn).vm.set_page_valid_bits(pidx, mask);
        }
        bp.set_resid(0);
    } else {
        let n = bp.bcount().max(0) as usize;
        if n > 0 && !bp.data().is_null() {
            // SAFETY: b_data covers b_bcount bytes.
            unsafe { ptr::write_bytes(bp.data().cast::<u8>(), 0, n) };
        }
        bp.set_resid(0);
    }
}

// ---------------------------------------------------------------------------
// pbufs.

fn initpbuf(g: &mut Kern, me: u32, idx: usize) {
    let bp = g.bufs[idx].bp;
    g.bufs[idx].qindex = BQUEUE_NONE;
    bp.set_qindex_c(BQUEUE_NONE);
    bp.set_data(ptr::null_mut());
    bp.set_flags(B_PAGING);
    bp.set_cmd(CMD_DONE);
    bp.set_error(0);
    bp.set_resid(0);
    bp.set_bcount(0);
    bp.set_bufsize(MAXPHYS);
    bp.set_vp(ptr::null_mut());
    bp.set_cluster_next(ptr::null_mut());
    initbufbio(bp);
    g.bufs[idx].bogus.clear();
    if try_lock(g, me, idx).is_err() {
        kpanic("initpbuf: free pbuf is locked".to_string());
    }
}

/// getpbuf(): a private buffer header outside the cache. `cnt` is the
/// caller's optional allocation counter (C memory or the cluster counter).
pub(crate) fn getpbuf_locked(
    mut g: Guard,
    me: u32,
    cnt: PbufCount,
    wait: bool,
) -> (Guard, Option<Bp>) {
    loop {
        if let Some(c) = cnt.get(&g) {
            if c == 0 {
                if !wait {
                    return (g, None);
                }
                let id = cnt.ident();
                interlock(&mut g, me, id);
                if cnt.get(&g) == Some(0) {
                    g = sleep(g, me, id, PINTERLOCKED, "wswbuf0", 0).0;
                }
                continue;
            }
        }
        if let Some(idx) = g.pbuf_free.pop() {
            cnt.add(&mut g, -1);
            initpbuf(&mut g, me, idx);
            let bp = g.bufs[idx].bp;
            return (g, Some(bp));
        }
        if !wait {
            return (g, None);
        }
        let id = &PBUF_WAIT as *const u8 as usize;
        interlock(&mut g, me, id);
        g = sleep(g, me, id, PINTERLOCKED, "wswbuf1", 0).0;
    }
}

/// Which counter a pbuf allocation is charged to.
#[derive(Clone, Copy)]
pub(crate) enum PbufCount {
    None,
    C(*mut c_int),
    Cluster,
}

impl PbufCount {
    fn get(self, g: &Kern) -> Option<i32> {
        match self {
            PbufCount::None => None,
            // SAFETY: the caller's counter, valid for the call.
            PbufCount::C(p) => Some(unsafe { p.read_volatile() }),
            PbufCount::Cluster => Some(g.cluster_pbuf_freecnt),
        }
    }
    fn add(self, g: &mut Kern, d: i32) {
        match self {
            PbufCount::None => {}
            // SAFETY: as get().
            PbufCount::C(p) => unsafe { p.write_volatile(p.read_volatile() + d) },
            PbufCount::Cluster => g.cluster_pbuf_freecnt += d,
        }
    }
    fn ident(self) -> usize {
        match self {
            PbufCount::None => 0,
            PbufCount::C(p) => p as usize,
            PbufCount::Cluster => &CLUSTER_PBUF as *const u8 as usize,
        }
    }
}

/// relpbuf(): return a pbuf.
pub(crate) fn relpbuf_locked(g: &mut Kern, me: u32, bp: Bp, cnt: PbufCount) {
    let idx = check(g, bp.0);
    if !g.bufs[idx].pbuf || !bp.has(B_PAGING) {
        kpanic("assertion \"bp->b_flags & B_PAGING\" failed in relpbuf".to_string());
    }
    if let Some((vn, m)) = g.bufs[idx].map.take() {
        rec_mut(g, vn).vm.unmap(m);
    }
    bp.set_data(ptr::null_mut());
    unlock(g, me, idx);
    g.pbuf_free.push(idx);
    wakeup_locked(g, &PBUF_WAIT as *const u8 as usize);
    if !matches!(cnt, PbufCount::None) {
        cnt.add(g, 1);
        wakeup_locked(g, cnt.ident());
    }
}

/// Map [foff, foff+len) of vnode `vn`'s pages into pbuf `idx` (cluster I/O).
pub(crate) fn pbuf_map(g: &mut Kern, idx: usize, vn: usize, foff: i64, len: i64) {
    let bp = g.bufs[idx].bp;
    let (m, _) = rec_mut(g, vn).vm.map(foff, len);
    // The pages were all wired by the component buffers already.
    bp.set_data((m.base + (foff & PAGE_MASK) as usize) as *mut core::ffi::c_char);
    g.bufs[idx].map = Some((vn, m));
}

/// waitrunningbufspace(): throttle on in-flight write bytes.
pub(crate) fn waitrunningbufspace_impl() {
    let mut g = lock();
    let me = me(&mut g);
    let limit = g.lim.hirunningspace * 4 / 6;
    while g.g.runningbufspace > limit || g.g.runningbufreq != 0 {
        interlock(&mut g, me, runningbufreq_ident());
        let flags = g.g.runningbufreq;
        g.g.runningbufreq += 1;
        if g.g.runningbufspace > limit || flags != 0 {
            g.st.runningbuf_waits += 1;
            let hz = g.cfg.hz;
            g = sleep(g, me, runningbufreq_ident(), PINTERLOCKED, "wdrn1", hz).0;
        } else {
            // dequeue the interlock we did not use
            let t = &mut g.threads[me as usize];
            t.tsleepq = false;
            t.wchan = 0;
        }
    }
}

/// Forced recycling of up to `n` CLEAN buffers as getnewbuf() would do
/// it (B_AGE second chance, io_deallocate, B_LOCKED buffers go to the
/// LOCKED queue). Returns how many headers were freed.
pub fn recycle(n: usize) -> usize {
    let mut freed = 0;
    let mut budget = {
        let g = lock();
        2 * g.queues[BQUEUE_CLEAN as usize].len + 1
    };
    while freed < n && budget > 0 {
        budget -= 1;
        let mut g = lock();
        let me = me(&mut g);
        let mut cur = q_first(&g, BQUEUE_CLEAN);
        let mut pick = None;
        while let Some(idx) = cur {
            let next = q_next(&g, idx);
            let bp = g.bufs[idx].bp;
            if !bp.has(B_AGE) && next.is_some() {
                bp.or(B_AGE);
                q_remove(&mut g, idx);
                q_insert_tail(&mut g, idx, BQUEUE_CLEAN);
                cur = next;
                continue;
            }
            if bp.refs() == 0 && try_lock(&mut g, me, idx).is_ok() {
                bremfree_locked(&mut g, idx);
                pick = Some(idx);
                break;
            }
            cur = next;
        }
        let Some(idx) = pick else {
            break;
        };
        let bp = g.bufs[idx].bp;
        drop(g);
        if bp.has_deps() {
            buf_deallocate(bp);
            if bp.has(B_LOCKED) {
                bqrelse_impl(bp);
                continue;
            }
        }
        // Destroy it the way getnewbuf does, then park the header.
        let mut g = lock();
        g.st.recycled += 1;
        trace::buf_call("getnewbuf_recycle", bp, &[]);
        if bp.has(B_VMIO) {
            g = vfs_vmio_release(g, me, idx);
        }
        if !bp.vp().is_null() {
            g = brelvp(g, me, idx);
        }
        bp.set_flags(B_BNOCLIP | B_INVAL);
        bp.set_cmd(CMD_DONE);
        bp.set_bcount(0);
        reinitbufbio(bp);
        bp.dep_init();
        q_insert_head(&mut g, idx, BQUEUE_EMPTYKVA);
        bufcountwakeup(&mut g);
        bufspacewakeup(&mut g);
        unlock(&mut g, me, idx);
        freed += 1;
    }
    freed
}

// ---------------------------------------------------------------------------
// Exported entry points.

/// # Safety
/// `vp` must be a vnode of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn getblk(
    vp: *mut ffi::vnode,
    loffset: ffi::off_t,
    size: c_int,
    blkflags: c_int,
    slptimeo: c_int,
) -> *mut ffi::buf {
    trace::vnode_off_call("getblk", vp, &[loffset, size as i64, blkflags as i64]);
    let bp = getblk_impl(vp, loffset, size, blkflags, slptimeo);
    trace::vnode_ret("getblk", vp, bp);
    bp
}

/// # Safety
/// `vp` must be a vnode of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn findblk(
    vp: *mut ffi::vnode,
    loffset: ffi::off_t,
    flags: c_int,
) -> *mut ffi::buf {
    trace::vnode_off_call("findblk", vp, &[loffset, flags as i64]);
    let bp = findblk_impl(vp, loffset, flags);
    trace::vnode_ret("findblk", vp, bp);
    bp
}

/// # Safety
/// `bp` must be a buffer of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn regetblk(bp: *mut ffi::buf) {
    trace::buf_call("regetblk", Bp(bp), &[]);
    regetblk_impl(Bp(bp));
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bremfree(bp: *mut ffi::buf) {
    trace::buf_call("bremfree", Bp(bp), &[]);
    let mut g = lock();
    let idx = check(&g, bp);
    bremfree_locked(&mut g, idx);
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bqrelse(bp: *mut ffi::buf) {
    trace::buf_call("bqrelse", Bp(bp), &[]);
    bqrelse_impl(Bp(bp));
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn brelse(bp: *mut ffi::buf) {
    trace::buf_call("brelse", Bp(bp), &[]);
    brelse_impl(Bp(bp));
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bdwrite(bp: *mut ffi::buf) {
    trace::buf_call("bdwrite", Bp(bp), &[]);
    bdwrite_impl(Bp(bp));
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bawrite(bp: *mut ffi::buf) {
    trace::buf_call("bawrite", Bp(bp), &[]);
    bawrite_impl(Bp(bp));
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bwrite(bp: *mut ffi::buf) -> c_int {
    trace::buf_call("bwrite", Bp(bp), &[]);
    bwrite_impl(Bp(bp))
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn bundirty(bp: *mut ffi::buf) {
    trace::buf_call("bundirty", Bp(bp), &[]);
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp);
    let _g = bundirty_locked(g, me, idx);
}

/// # Safety
/// `bp` must be a buffer of this machine, locked and off its queue.
#[no_mangle]
pub unsafe extern "C-unwind" fn bdirty(bp: *mut ffi::buf) {
    trace::buf_call("bdirty", Bp(bp), &[]);
    let mut g = lock();
    let me = me(&mut g);
    let idx = check(&g, bp);
    let _g = bdirty_locked(g, me, idx);
}

/// # Safety
/// Pointer arguments must be valid as in the kernel's breadnx().
#[no_mangle]
pub unsafe extern "C-unwind" fn breadnx(
    vp: *mut ffi::vnode,
    loffset: ffi::off_t,
    size: c_int,
    raoffset: *mut ffi::off_t,
    rabsize: *mut c_int,
    cnt: c_int,
    bpp: *mut *mut ffi::buf,
) -> c_int {
    trace::vnode_off_call("breadnx", vp, &[loffset, size as i64, cnt as i64]);
    let r = breadnx_impl(vp, loffset, size, raoffset, rabsize, cnt, bpp);
    // SAFETY: bpp was filled in by breadnx_impl.
    trace::vnode_ret("breadnx", vp, unsafe { *bpp });
    r
}

/// # Safety
/// `vp` must be a vnode of this machine; `func` a valid callback or NULL.
#[no_mangle]
pub unsafe extern "C-unwind" fn breadcb(
    vp: *mut ffi::vnode,
    loffset: ffi::off_t,
    size: c_int,
    func: ffi::biodone_t,
    arg: *mut c_void,
) {
    trace::vnode_off_call("breadcb", vp, &[loffset, size as i64]);
    breadcb_impl(vp, loffset, size, func, arg);
}

/// # Safety
/// `bp` must be a buffer of this machine, locked by the caller.
#[no_mangle]
pub unsafe extern "C-unwind" fn vfs_bio_clrbuf(bp: *mut ffi::buf) {
    trace::buf_call("vfs_bio_clrbuf", Bp(bp), &[]);
    vfs_bio_clrbuf_impl(Bp(bp));
}

/// # Safety
/// `pfreecnt` must be NULL or a valid counter.
#[no_mangle]
pub unsafe extern "C-unwind" fn getpbuf(pfreecnt: *mut c_int) -> *mut ffi::buf {
    trace::plain_call("getpbuf", &[]);
    let mut g = lock();
    let me = me(&mut g);
    let cnt = if pfreecnt.is_null() {
        PbufCount::None
    } else {
        PbufCount::C(pfreecnt)
    };
    let (_g, bp) = getpbuf_locked(g, me, cnt, true);
    bp.map_or(ptr::null_mut(), |b| b.0)
}

/// # Safety
/// `bp` must be a pbuf from getpbuf(); `pfreecnt` NULL or the same counter.
#[no_mangle]
pub unsafe extern "C-unwind" fn relpbuf(bp: *mut ffi::buf, pfreecnt: *mut c_int) {
    trace::buf_call("relpbuf", Bp(bp), &[]);
    let mut g = lock();
    let me = me(&mut g);
    let cnt = if pfreecnt.is_null() {
        PbufCount::None
    } else {
        PbufCount::C(pfreecnt)
    };
    relpbuf_locked(&mut g, me, Bp(bp), cnt);
}

#[no_mangle]
pub extern "C-unwind" fn waitrunningbufspace() {
    trace::plain_call("waitrunningbufspace", &[]);
    waitrunningbufspace_impl();
}
