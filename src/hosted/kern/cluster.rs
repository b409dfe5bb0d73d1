//! Read and write clustering (vfs_cluster.c): cluster_readx() with
//! read-ahead built by cluster_rbuild() (neighbours probed with a
//! non-blocking getblk, stopping at B_CACHE/B_LOCKED buffers or when
//! io_checkread objects), and cluster_awrite() / cluster_wbuild(), which
//! probes following dirty buffers with findblk(FINDBLK_NBLOCK) and asks
//! io_checkwrite as the very last test. Clusters are written or read as
//! one pbuf I/O whose pages alias the component buffers; cluster_callback
//! distributes completion (and errors) to the components.

use std::format;
use std::prelude::rust_2021::*;

use core::ffi::c_int;
use core::ptr;

use crate::sys::ffi::{
    self, BIO_SYNC, B_CACHE, B_CLUSTER, B_CLUSTEROK, B_DELWRI, B_DIRECT, B_ERROR, B_INVAL,
    B_IODEBUG, B_LOCKED, B_MALLOC, B_NEEDCOMMIT, B_RAM, B_RELBUF, B_VMIO, FINDBLK_NBLOCK,
    FINDBLK_TEST, GETBLK_NOWAIT, GETBLK_SZMATCH, NOOFFSET,
};

use super::bio::{biodone_impl, biowait_impl};
use super::bp::{BioP, Bp, CMD_DONE, CMD_READ, CMD_WRITE};
use super::bufcache::{
    bawrite_impl, bqrelse_impl, brelse_impl, bremfree_locked, bsetrunningbufspace, bundirty_locked,
    check, findblk_impl, getblk_impl, getpbuf_locked, pbuf_map, relpbuf_locked, vfs_busy_pages,
    PbufCount,
};
use super::buflock::{kernproc, unlock};
use super::callout::{self, buf_checkread, buf_checkwrite, buf_start};
use super::machine::{lock, me, PAGE_SIZE};
use super::misc::kpanic;
use super::trace;
use super::vm::VM_PAGE_BITS_ALL;
use super::vnode::{rec, vn_id};

/// vmaxiosize() of a vnode.
fn vmaxiosize() -> i32 {
    let g = lock();
    g.cfg.max_iosize.min(super::machine::MAXPHYS)
}

/// VOP_BMAP on a vnode: (device offset, contiguous bytes available).
fn bmap(vp: *mut ffi::vnode, loffset: i64) -> (i64, i32) {
    let f = {
        let g = lock();
        let vn = vn_id(&g, vp);
        if rec(&g, vn).dev.is_some() {
            return (loffset, ffi::MAXBSIZE);
        }
        rec(&g, vn).bmap.clone()
    };
    match f {
        Some(f) => (f(loffset), ffi::MAXBSIZE),
        None => (NOOFFSET, 0),
    }
}

fn setram(bp: Bp) {
    bp.or(B_RAM);
}

/// cluster_append().
fn cluster_append(bio: BioP, tbp: Bp) {
    tbp.set_cluster_next(ptr::null_mut());
    if bio.cluster_head().is_null() {
        bio.set_cluster_head(tbp.0);
        bio.set_cluster_tail(tbp.0);
    } else {
        Bp(bio.cluster_tail()).set_cluster_next(tbp.0);
        bio.set_cluster_tail(tbp.0);
    }
}

/// Whether any page of the buffer is (partly) valid.
fn any_page_valid(bp: Bp) -> bool {
    let g = lock();
    let idx = check(&g, bp.0);
    match g.bufs[idx].map {
        Some((vn, m)) => (0..m.npages).any(|i| rec(&g, vn).vm.page_valid(m.pindex + i as u64) != 0),
        None => false,
    }
}

/// cluster_callback(): completion of a cluster pbuf.
///
/// # Safety
/// Called as a bio_done callback on a cluster pbuf's b_bio1.
pub(crate) unsafe extern "C-unwind" fn cluster_callback(bio: *mut ffi::bio) {
    let bio = BioP(bio);
    let bp = Bp(bio.buf());
    let error = if bp.has(B_ERROR) {
        bp.error()
    } else {
        if bp.bcount() != bp.bufsize() {
            kpanic(format!(
                "cluster_callback: unexpected EOF on cluster {:p}!",
                bio.0
            ));
        }
        0
    };
    loop {
        let tbp = bio.cluster_head();
        if tbp.is_null() {
            break;
        }
        let t = Bp(tbp);
        bio.set_cluster_head(t.cluster_next());
        if error != 0 {
            t.or(B_ERROR | B_IODEBUG);
            t.set_error(error);
        } else {
            t.set_dirtyoff(0);
            t.set_dirtyend(0);
            t.clear(B_ERROR | B_INVAL);
            t.or(B_IODEBUG);
            if t.has(B_DIRECT) {
                t.or(B_RELBUF);
            }
        }
        biodone_impl(t.bio1());
    }
    let mut g = lock();
    let me = me(&mut g);
    relpbuf_locked(&mut g, me, bp, PbufCount::Cluster);
}

/// cluster_rbuild(): build a read cluster starting with `fbp` (already set
/// up for sync or async completion). Returns a cluster pbuf or `fbp`.
fn cluster_rbuild(
    vp: *mut ffi::vnode,
    filesize: i64,
    loffset: i64,
    doffset: i64,
    blksize: i32,
    mut run: i32,
    fbp: Bp,
) -> Bp {
    let maxiosize = vmaxiosize();
    while loffset + run as i64 * blksize as i64 > filesize {
        run -= 1;
    }
    let tbp = fbp;
    tbp.bio2().set_offset(doffset);
    if tbp.has(B_MALLOC) || !tbp.has(B_VMIO) || run <= 1 {
        return tbp;
    }
    let (pbp, vn) = {
        let mut g = lock();
        let me = me(&mut g);
        let vn = vn_id(&g, vp);
        let (_g, p) = getpbuf_locked(g, me, PbufCount::Cluster, false);
        match p {
            Some(p) => (p, vn),
            None => return tbp,
        }
    };
    {
        lock().st.cluster_reads += 1;
    }
    pbp.or(B_CLUSTER | B_VMIO);
    pbp.set_cmd(CMD_READ);
    pbp.bio1().set_done(callout::biodone_fn(cluster_callback));
    pbp.bio1().set_cluster_head(ptr::null_mut());
    pbp.bio1().set_cluster_tail(ptr::null_mut());
    pbp.set_loffset(loffset);
    pbp.bio2().set_offset(doffset);
    pbp.set_bcount(0);
    pbp.set_bufsize(0);
    let mut npages_bytes: i64 = 0;
    let mut boffset = doffset;
    for i in 0..run {
        let t;
        if i > 0 {
            if npages_bytes + ((blksize as i64 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1))
                > maxiosize as i64
            {
                break;
            }
            let p = getblk_impl(
                vp,
                loffset + i as i64 * blksize as i64,
                blksize,
                GETBLK_SZMATCH | GETBLK_NOWAIT,
                0,
            );
            if p.is_null() {
                break;
            }
            t = Bp(p);
            if any_page_valid(t) {
                bqrelse_impl(t);
                break;
            }
            if t.has(B_CACHE | B_LOCKED)
                || !t.has(B_VMIO)
                || (t.has_deps() && buf_checkread(t) != 0)
            {
                bqrelse_impl(t);
                break;
            }
            if any_page_valid(t) {
                bqrelse_impl(t);
                break;
            }
            if i == run - 1 {
                setram(t);
            }
            if t.bio2().offset() == NOOFFSET {
                t.bio2().set_offset(boffset);
            } else if t.bio2().offset() != boffset {
                brelse_impl(t);
                break;
            }
        } else {
            t = tbp;
        }
        t.set_cmd(CMD_READ);
        {
            let mut g = lock();
            let me = me(&mut g);
            let idx = check(&g, t.0);
            kernproc(&mut g, me, idx);
        }
        cluster_append(pbp.bio1(), t);
        npages_bytes += (blksize as i64 + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        pbp.set_bcount(pbp.bcount() + blksize);
        pbp.set_bufsize(pbp.bufsize() + blksize);
        boffset += blksize as i64;
    }
    // Map the cluster's pages; fully valid ones are left alone by the read.
    let mut g = lock();
    let pidx = check(&g, pbp.0);
    pbuf_map(&mut g, pidx, vn, loffset, pbp.bcount() as i64);
    let (_, m) = g.bufs[pidx].map.expect("mapped");
    let data = pbp.data() as usize;
    let mut bogus = Vec::new();
    for i in 0..m.npages {
        if rec(&g, vn).vm.page_valid(m.pindex + i as u64) == VM_PAGE_BITS_ALL {
            let ps = m.base + i * PAGE_SIZE as usize;
            let s = ps.saturating_sub(data);
            let e = (ps + PAGE_SIZE as usize).saturating_sub(data);
            if e > s {
                bogus.push((s, e));
            }
        }
    }
    g.bufs[pidx].bogus = bogus;
    let me = me(&mut g);
    kernproc(&mut g, me, pidx);
    pbp
}

/// cluster_readx().
pub(crate) fn cluster_readx_impl(
    vp: *mut ffi::vnode,
    filesize: i64,
    loffset_in: i64,
    blksize: i32,
    minreq: usize,
    maxreq_in: usize,
    bpp: *mut *mut ffi::buf,
) -> i32 {
    let mut loffset = loffset_in;
    let mut maxreq = maxreq_in as i64;
    let max_readahead = lock().cfg.max_readahead;
    if maxreq < minreq as i64 {
        maxreq = minreq as i64;
    }
    if maxreq > max_readahead {
        maxreq = max_readahead.min(16 * 1024 * 1024);
    }
    if maxreq < blksize as i64 {
        maxreq = blksize as i64;
    }
    if loffset + maxreq > filesize {
        maxreq = if loffset > filesize {
            0
        } else {
            filesize - loffset
        };
    }
    let mut maxra = (maxreq / blksize as i64) as i32;

    // SAFETY: bpp is the caller's out-parameter.
    let mut bp = unsafe { *bpp };
    if bp.is_null() {
        bp = getblk_impl(vp, loffset, blksize, 0, 0);
        // SAFETY: as above.
        unsafe { *bpp = bp };
    }
    let mut reqbp = Some(Bp(bp));
    let mut cur: Option<Bp> = Some(Bp(bp));
    let maxrbuild = vmaxiosize() / blksize;
    let b = Bp(bp);
    if b.has(B_CACHE) {
        if maxra <= 1 || !b.has(B_RAM) {
            return 0;
        }
        b.clear(B_RAM);
        let mut i = if !findblk_impl(
            vp,
            loffset + (maxra as i64 - 2) * blksize as i64,
            FINDBLK_TEST,
        )
        .is_null()
        {
            maxra - 1
        } else {
            1
        };
        while i < maxra {
            if findblk_impl(vp, loffset + i as i64 * blksize as i64, FINDBLK_TEST).is_null() {
                break;
            }
            i += 1;
        }
        if i >= maxra {
            return 0;
        }
        loffset += i as i64 * blksize as i64;
        reqbp = None;
        cur = None;
        if loffset >= filesize {
            return 0;
        }
        if loffset + maxra as i64 * blksize as i64 > filesize {
            maxra = ((filesize - loffset) / blksize as i64) as i32;
        }
    } else {
        b.set_cmd(CMD_READ);
        b.bio1()
            .set_done(callout::biodone_fn(super::bio::biodone_sync));
        b.bio1().or_flags(BIO_SYNC);
        let nblks = maxra.min(maxrbuild);
        let mut single = true;
        if nblks > 1 {
            let (doffset, burst) = bmap(vp, loffset);
            let nblks = nblks.min(burst / blksize);
            if doffset != NOOFFSET && nblks > 1 {
                let c = cluster_rbuild(vp, filesize, loffset, doffset, blksize, nblks, b);
                loffset += c.bufsize() as i64;
                maxra -= c.bufsize() / blksize;
                cur = Some(c);
                single = false;
            }
        }
        if single {
            setram(b);
            loffset += blksize as i64;
            maxra -= 1;
        }
    }
    if let Some(c) = cur {
        if !c.has(B_CLUSTER) {
            let mut g = lock();
            let idx = check(&g, c.0);
            vfs_busy_pages(&mut g, idx);
        }
        c.clear(B_ERROR | B_INVAL);
        super::disk::vn_strategy_impl(vp, c.bio1().0);
    }
    // Read-ahead: only buffers we can get without blocking.
    while maxra > 0 {
        let r = getblk_impl(vp, loffset, blksize, GETBLK_SZMATCH | GETBLK_NOWAIT, 0);
        if r.is_null() {
            break;
        }
        let rbp = Bp(r);
        if rbp.has(B_CACHE) {
            bqrelse_impl(rbp);
            break;
        }
        let (doffset, burst) = bmap(vp, loffset);
        if doffset == NOOFFSET {
            rbp.or(B_INVAL);
            brelse_impl(rbp);
            break;
        }
        let nblks = maxra.min(maxrbuild).min(burst / blksize);
        rbp.set_cmd(CMD_READ);
        setram(rbp);
        let rbp = if nblks > 1 {
            cluster_rbuild(vp, filesize, loffset, doffset, blksize, nblks, rbp)
        } else {
            rbp.bio2().set_offset(doffset);
            rbp
        };
        rbp.clear(B_ERROR | B_INVAL);
        {
            let mut g = lock();
            let me = me(&mut g);
            let idx = check(&g, rbp.0);
            if !rbp.has(B_CLUSTER) {
                vfs_busy_pages(&mut g, idx);
            }
            kernproc(&mut g, me, idx);
            g.st.readahead += 1;
        }
        loffset += rbp.bufsize() as i64;
        maxra -= rbp.bufsize() / blksize;
        super::disk::vn_strategy_impl(vp, rbp.bio1().0);
    }
    match reqbp {
        Some(r) => {
            if r.bio1().flags() & BIO_SYNC == 0 {
                kpanic(
                    "assertion \"reqbp->b_bio1.bio_flags & BIO_SYNC\" failed in cluster_readx"
                        .to_string(),
                );
            }
            biowait_impl(r.bio1(), "clurd")
        }
        None => 0,
    }
}

/// cluster_wbuild(): write `*bpp` (locked, off-queue) and as many
/// following dirty buffers as qualify. Returns bytes written.
fn cluster_wbuild(
    vp: *mut ffi::vnode,
    mut first: Option<Bp>,
    blksize: i32,
    mut start: i64,
    mut bytes: i32,
) -> i32 {
    let maxiosize = vmaxiosize();
    let mut total = 0;
    while bytes > 0 {
        let tbp = match first {
            Some(b) if b.loffset() == start => {
                first = None;
                b
            }
            _ => {
                let p = findblk_impl(vp, start, FINDBLK_NBLOCK);
                let t = Bp(p);
                let skip = p.is_null()
                    || t.flags() & (B_LOCKED | B_INVAL | B_DELWRI) != B_DELWRI
                    || (t.has_deps() && buf_checkwrite(t) != 0);
                if skip {
                    if !p.is_null() {
                        let mut g = lock();
                        let me = me(&mut g);
                        let idx = check(&g, p);
                        unlock(&mut g, me, idx);
                    }
                    start += blksize as i64;
                    bytes -= blksize;
                    continue;
                }
                let mut g = lock();
                let idx = check(&g, p);
                bremfree_locked(&mut g, idx);
                t
            }
        };
        if tbp.cmd() != CMD_DONE {
            kpanic("assertion \"tbp->b_cmd == BUF_CMD_DONE\" failed in cluster_wbuild".to_string());
        }
        // Not clusterable, or alone: plain bawrite.
        let mut pbp = None;
        if tbp.flags() & (B_CLUSTEROK | B_MALLOC) == B_CLUSTEROK
            && tbp.bcount() == tbp.bufsize()
            && tbp.bcount() == blksize
            && bytes != blksize
        {
            let mut g = lock();
            let me = me(&mut g);
            let (_g, p) = getpbuf_locked(g, me, PbufCount::Cluster, true);
            pbp = p;
        }
        let Some(pbp) = pbp else {
            total += tbp.bufsize();
            bawrite_impl(tbp);
            start += blksize as i64;
            bytes -= blksize;
            continue;
        };
        {
            lock().st.cluster_writes += 1;
        }
        pbp.set_bcount(0);
        pbp.set_bufsize(0);
        pbp.set_loffset(tbp.loffset());
        pbp.bio2().set_offset(tbp.bio2().offset());
        pbp.clear(B_ERROR);
        pbp.or(B_CLUSTER | ffi::B_BNOCLIP | (tbp.flags() & (B_VMIO | B_NEEDCOMMIT)));
        pbp.bio1().set_cluster_head(ptr::null_mut());
        pbp.bio1().set_cluster_tail(ptr::null_mut());
        let base_loff = tbp.loffset();
        let mut i: i32 = 0;
        let mut npages: i64 = 0;
        while i < bytes {
            let t = if i == 0 {
                tbp
            } else {
                let p = findblk_impl(vp, start, FINDBLK_NBLOCK);
                if p.is_null() {
                    break;
                }
                let t = Bp(p);
                let release = |t: Bp| {
                    let mut g = lock();
                    let me = me(&mut g);
                    let idx = check(&g, t.0);
                    unlock(&mut g, me, idx);
                };
                let want = B_DELWRI | B_CLUSTEROK | (pbp.flags() & (B_VMIO | B_NEEDCOMMIT));
                if t.flags() & (B_VMIO | B_CLUSTEROK | B_INVAL | B_DELWRI | B_NEEDCOMMIT) != want
                    || t.has(B_LOCKED)
                {
                    release(t);
                    break;
                }
                let tpages = (t.bufsize() as i64 + PAGE_SIZE - 1) / PAGE_SIZE;
                // io_checkwrite must be the last test: 0 commits us.
                if t.bcount() != blksize
                    || pbp.bio2().offset() + i as i64 != t.bio2().offset()
                    || tpages + npages > maxiosize as i64 / PAGE_SIZE
                    || (t.has_deps() && buf_checkwrite(t) != 0)
                {
                    release(t);
                    break;
                }
                let mut g = lock();
                let idx = check(&g, p);
                bremfree_locked(&mut g, idx);
                if t.cmd() != CMD_DONE {
                    drop(g);
                    kpanic(
                        "assertion \"tbp->b_cmd == BUF_CMD_DONE\" failed in cluster_wbuild"
                            .to_string(),
                    );
                }
                t
            };
            npages += (t.bufsize() as i64 + PAGE_SIZE - 1) / PAGE_SIZE;
            pbp.set_bcount(pbp.bcount() + blksize);
            pbp.set_bufsize(pbp.bufsize() + blksize);
            {
                let mut g = lock();
                let me = me(&mut g);
                let idx = check(&g, t.0);
                g = bundirty_locked(g, me, idx);
                t.clear(B_ERROR);
                t.set_cmd(CMD_WRITE);
                kernproc(&mut g, me, idx);
            }
            cluster_append(pbp.bio1(), t);
            if t.has_deps() {
                buf_start(t);
            }
            i += blksize;
            start += blksize as i64;
        }
        // finishcluster
        total += pbp.bufsize();
        pbp.set_dirtyoff(0);
        pbp.set_dirtyend(pbp.bufsize());
        pbp.bio1().set_done(callout::biodone_fn(cluster_callback));
        pbp.set_cmd(CMD_WRITE);
        {
            let mut g = lock();
            let me = me(&mut g);
            let vn = vn_id(&g, vp);
            let pidx = check(&g, pbp.0);
            pbuf_map(&mut g, pidx, vn, base_loff, pbp.bcount() as i64);
            vfs_busy_pages(&mut g, pidx);
            let sz = pbp.bufsize();
            bsetrunningbufspace(&mut g, pbp, sz);
            kernproc(&mut g, me, pidx);
        }
        super::disk::vn_strategy_impl(vp, pbp.bio1().0);
        bytes -= i;
    }
    total
}

/// cluster_awrite(): write the buffer, clustered with its neighbours if
/// it is B_CLUSTEROK. I/O on `bp` is guaranteed.
pub(crate) fn cluster_awrite_impl(bp: Bp) -> i32 {
    {
        lock().st.cluster_awrite += 1;
    }
    let vp = bp.vp();
    if !bp.has(B_CLUSTEROK) || vp.is_null() {
        let total = bp.bufsize();
        bawrite_impl(bp);
        return total;
    }
    let max = vmaxiosize();
    cluster_wbuild(vp, Some(bp), bp.bufsize(), bp.loffset(), max)
}

/// # Safety
/// As the kernel's cluster_readx().
#[no_mangle]
pub unsafe extern "C-unwind" fn cluster_readx(
    vp: *mut ffi::vnode,
    filesize: ffi::off_t,
    loffset: ffi::off_t,
    blksize: c_int,
    minreq: usize,
    maxreq: usize,
    bpp: *mut *mut ffi::buf,
) -> c_int {
    trace::vnode_off_call("cluster_readx", vp, &[filesize, loffset, blksize as i64]);
    let r = cluster_readx_impl(vp, filesize, loffset, blksize, minreq, maxreq, bpp);
    // SAFETY: bpp was filled in.
    trace::vnode_ret("cluster_readx", vp, unsafe { *bpp });
    r
}

/// # Safety
/// `bp` must be a buffer of this machine, locked and off its queue.
#[no_mangle]
pub unsafe extern "C-unwind" fn cluster_awrite(bp: *mut ffi::buf) -> c_int {
    trace::buf_call("cluster_awrite", Bp(bp), &[]);
    cluster_awrite_impl(Bp(bp))
}
