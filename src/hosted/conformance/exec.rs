//! Runs one scenario on a fresh deterministic hosted machine against one
//! implementation, recording its trace (see [`super::tracer`]).
//!
//! One thread; I/O completes only when an operation asks for it (or when
//! the thread would otherwise sleep forever, in an order the machine's
//! seed decides); the buffer daemon and syncer run only as operations.
//!
//! Legality: an operation whose preconditions do not hold in the current
//! state (releasing a buffer the workload does not hold, modifying one
//! without a reference, a flush-release while others hold references,
//! acquiring beyond what the buffer cache can satisfy...) is skipped and
//! recorded as skipped; both implementations then skip it alike, unless
//! their states already differ, which the trace shows earlier.

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::ops::{FaultKind, Op, Scenario, Slot, FBLKS, INODES, Z};
use super::tracer::{self, io_id, io_state, line};
use crate::hosted::hammer::globals;
use crate::hosted::hammer::ioimpl::IoImpl;
use crate::hosted::hammer::lock;
use crate::hosted::hammer::mount::{BufRef, Mount, VolRef, Zone};
use crate::hosted::hammer::objects;
use crate::hosted::hammer::ondisk;
use crate::hosted::kern::{self, Config, Device, Fault, FaultOp};
use crate::sys::ffi;

pub const BUFSIZE: usize = 16384;

/// Whether to give ios and tokens readable names in kernel events.
const NAME_OBJECTS: bool = true;

/// Records created by this process (their trace names).
static RECORDS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn zone_of(z: Z) -> Zone {
    match z {
        Z::Btree => Zone::Btree,
        Z::Meta => Zone::Meta,
        Z::Large => Zone::LargeData,
        Z::Small => Zone::SmallData,
        Z::Undo => Zone::Undo,
    }
}

/// How many buffer references the workload may hold with `nbuf` buffers
/// (shared with the generator's choice).
pub fn max_held(nbuf: u16) -> u32 {
    if nbuf <= 24 {
        3
    } else {
        6
    }
}

struct Inode {
    ip: ffi::hammer_inode_t,
}

/// A scenario being executed.
pub struct Exec {
    m: Option<Mount>,
    imp: IoImpl,
    nbuf: u16,
    volumes: u8,
    slots: u8,
    held: BTreeMap<Slot, Vec<BufRef>>,
    vols: BTreeMap<u8, Vec<VolRef>>,
    inodes: Vec<Inode>,
    /// Front-end buffers that may be cached: (inode, file block).
    frontend: BTreeSet<(u8, u8)>,
    /// Per-op buffer-cache state lines (off for speed when not needed).
    pub state_lines: bool,
    last_ios: BTreeMap<String, String>,
    last_bufs: BTreeMap<String, String>,
}

/// Emits the entries of `now` that differ from `last` and `gone <key>`
/// for the ones that disappeared; `last` becomes `now`.
fn delta(last: &mut BTreeMap<String, String>, now: BTreeMap<String, String>, what: &str) {
    for (k, v) in &now {
        if last.get(k) != Some(v) {
            if v.starts_with(what) {
                line(v);
            } else {
                line(&format!("{what} {v}"));
            }
        }
    }
    for k in last.keys() {
        if !now.contains_key(k) {
            line(&format!("gone {what} {k}"));
        }
    }
    *last = now;
}

pub fn data_pattern(byte: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    for (k, c) in v.chunks_mut(8).enumerate() {
        c.fill(byte.wrapping_add(k as u8));
    }
    v
}

pub fn hash_bytes(b: &[u8]) -> u64 {
    // Eight bytes at a time: this runs over megabytes per scenario, in
    // unoptimised test builds too.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ b.len() as u64;
    let words = b.len() / 8;
    let mut i = 0;
    while i < words {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(23);
        i += 1;
    }
    for &x in &b[words * 8..] {
        h = (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Exec {
    fn m(&self) -> &Mount {
        self.m.as_ref().expect("mount is live")
    }

    fn hmp(&self) -> ffi::hammer_mount_t {
        self.m().hmp()
    }

    fn off(&self, s: Slot) -> u64 {
        self.m().offset(zone_of(s.zone), s.vol as i32, s.idx as u64)
    }

    fn slot_ok(&self, s: Slot) -> bool {
        s.vol < self.volumes && s.zone.on_volume(s.vol) && (s.idx as u64) < 512
    }

    fn total_held(&self) -> u32 {
        self.held.values().map(|v| v.len() as u32).sum::<u32>()
            + self.vols.values().map(|v| v.len() as u32).sum::<u32>()
    }

    /// Gives every io of the mount (and the mount's tokens) a stable name
    /// in kernel trace events (sleep channels, tokens).
    fn name_objects(&self) {
        // Every object that kernel events can name by address gets a
        // stable name: without one the kernel trace numbers addresses in
        // order of appearance, and heap addresses are reused differently
        // in different processes (the environment's hash maps iterate in
        // per-process order, so frees come in different orders).
        if !NAME_OBJECTS {
            return;
        }
        let hmp = self.hmp();
        let name = tracer::name;
        // SAFETY: the mount, its buffers/volumes, our inodes and the
        // vnodes are live; only addresses are registered.
        unsafe {
            macro_rules! field {
                ($e:expr, $n:expr) => {
                    name(addr_of_mut!($e) as *const c_void, $n)
                };
            }
            field!((*hmp).io_token, "hmp.io_token");
            field!((*hmp).fs_token, "hmp.fs_token");
            field!((*hmp).flusher.finalize_want, "finalize_want");
            field!((*hmp).flush_tid1, "flush_tid1");
            field!((*hmp).volu_root.rbh_spin, "volu_root.spin");
            field!((*hmp).meta_root.rbh_spin, "meta_root.spin");
            field!((*hmp).undo_root.rbh_spin, "undo_root.spin");
            field!((*hmp).data_root.rbh_spin, "data_root.spin");
            field!((*hmp).lose_root.rbh_spin, "lose_root.spin");
            field!((*hmp).rb_vols_root.rbh_spin, "vols_root.spin");
            field!((*hmp).rb_bufs_root.rbh_spin, "bufs_root.spin");
            field!((*hmp).rb_nods_root.rbh_spin, "nods_root.spin");
            field!((*hmp).rb_inos_root.rbh_spin, "inos_root.spin");
            field!((*hmp).rb_undo_root.rbh_spin, "undo_tree.spin");
            field!((*hmp).rb_resv_root.rbh_spin, "resv_root.spin");
            for io in all_ios(hmp) {
                tracer::name_io(io);
            }
            let mut vnodes: Vec<*mut ffi::vnode> =
                self.m().devices().iter().map(|d| d.vnode()).collect();
            for (k, i) in self.inodes.iter().enumerate() {
                name(i.ip as *const c_void, &format!("ino{k}"));
                field!((*i.ip).rsv_recs, &format!("ino{k}.rsv_recs"));
                field!((*i.ip).lock, &format!("ino{k}.lock"));
                field!((*i.ip).rec_tree.rbh_spin, &format!("ino{k}.rec_tree.spin"));
                if !(*i.ip).vp.is_null() {
                    vnodes.push((*i.ip).vp);
                }
            }
            for vp in vnodes {
                name_vnode(vp);
            }
        }
    }

    fn skip(&self, why: &str) {
        line(&format!("SKIP {why}"));
    }

    /// Records the state after an operation: the mount's bookkeeping and
    /// counters, then every io and every buffer whose state changed since
    /// the last time (`gone` for those that disappeared). The sequence of
    /// these deltas determines the full state after every operation.
    fn state(&mut self) {
        let hmp = self.hmp();
        // SAFETY: live mount.
        unsafe {
            line(&tracer::mount_state(hmp));
            let mut now = BTreeMap::new();
            for io in all_ios(hmp) {
                now.insert(io_id(io), io_state(io));
            }
            delta(&mut self.last_ios, now, "io");
        }
        line(&tracer::counters_line());
        if self.state_lines {
            let now: BTreeMap<String, String> = tracer::buffers_keyed().into_iter().collect();
            delta(&mut self.last_bufs, now, "buf");
        }
    }

    /// Runs one operation.
    pub fn op(&mut self, op: &Op) {
        self.name_objects();
        match *op {
            Op::GetVol(v) => {
                if v >= self.volumes || self.total_held() >= max_held(self.nbuf) + 2 {
                    return self.skip("getvol");
                }
                match self.m().get_volume(v as i32) {
                    Ok(vp) => self.vols.entry(v).or_default().push(vp),
                    Err(e) => line(&format!("getvol error {e}")),
                }
            }
            Op::RelVol(v) => match self.vols.get_mut(&v).and_then(|l| l.pop()) {
                Some(vp) => self.m().rel_volume(vp),
                None => self.skip("relvol"),
            },
            Op::Bread(s) | Op::Bnew(s) => {
                if !self.slot_ok(s) || self.total_held() >= max_held(self.nbuf) {
                    return self.skip("acquire");
                }
                if matches!(op, Op::Bnew(_)) && s.zone == Z::Undo {
                    return self.skip("bnew undo");
                }
                let off = self.off(s);
                let r = if matches!(op, Op::Bnew(_)) {
                    self.m().bnew(off)
                } else {
                    self.m().bread(off)
                };
                match r {
                    Ok(b) => self.held.entry(s).or_default().push(b),
                    Err(e) => line(&format!("acquire error {e}")),
                }
            }
            Op::Rel(s) => match self.held.get_mut(&s).and_then(|l| l.pop()) {
                Some(b) => self.m().rel_buffer(b),
                None => self.skip("rel"),
            },
            Op::RelFlush(s) => {
                let b = match self.held.get_mut(&s).and_then(|l| l.pop()) {
                    Some(b) => b,
                    None => return self.skip("relflush"),
                };
                // SAFETY: held buffer.
                let only = unsafe { lock::oneref(addr_of_mut!((*b.io()).lock)) };
                if only {
                    self.m().rel_buffer_flush(b);
                } else {
                    line("relflush: not the only reference, plain release");
                    self.m().rel_buffer(b);
                }
            }
            Op::Modify {
                slot,
                at,
                len,
                byte,
                undo,
            } => {
                if slot.zone == Z::Undo || self.held.get(&slot).is_none_or(|l| l.is_empty()) {
                    return self.skip("modify");
                }
                let b = self.held[&slot].last().expect("held");
                let (at, len) = (at as usize % BUFSIZE, len as usize);
                let len = len.min(BUFSIZE - at).max(1);
                let data = data_pattern(byte, len);
                if undo {
                    let mut t = self.m().start_transaction();
                    self.m().modify(Some(&mut t), b, at, &data, true);
                    self.m().done_transaction(t);
                } else {
                    self.m().modify(None, b, at, &data, false);
                }
            }
            Op::ModifyVol {
                vol,
                at,
                len,
                byte,
                undo,
            } => {
                if self.vols.get(&vol).is_none_or(|l| l.is_empty()) {
                    return self.skip("modvol");
                }
                let v = self.vols[&vol].last().expect("held");
                // Only the unused tail of the header buffer.
                let at = 12288 + (at as usize % 4096);
                let len = (len as usize).min(BUFSIZE - at).max(1);
                let data = data_pattern(byte, len);
                if undo {
                    let mut t = self.m().start_transaction();
                    self.m().modify_volume(Some(&mut t), v, at, &data, true);
                    self.m().done_transaction(t);
                } else {
                    self.m().modify_volume(None, v, at, &data, false);
                }
            }
            Op::Node {
                idx,
                at,
                byte,
                undo,
            } => self.node(idx, at, byte, undo),
            Op::Flush { final_ } => self.m().flush(final_),
            Op::WaitAll { doflush } => self.m().wait_all(doflush),
            Op::FlushSync => self.m().flush_sync(),
            // SAFETY: live mount.
            Op::LimitBacklog => unsafe { (self.imp.limit_backlog)(self.hmp()) },
            Op::IoOne => {
                let r = kern::run_one_io();
                line(&format!("io1 -> {r}"));
            }
            Op::IoAll => {
                let n = kern::run_pending_io();
                line(&format!("ioall -> {n}"));
            }
            Op::BufDaemon => {
                let n = kern::buf_daemon_pass();
                line(&format!("bufdaemon -> {n}"));
            }
            Op::Recycle(n) => {
                let r = kern::recycle(n as usize);
                line(&format!("recycle -> {r}"));
            }
            Op::Syncer => {
                let n = kern::syncer_pass();
                line(&format!("syncer -> {n}"));
            }
            Op::VmShortage(on) => kern::set_vm_shortage(on),
            Op::DirectWrite {
                ino,
                fblk,
                slot,
                byte,
            } => self.direct_write(ino, fblk, slot, byte),
            Op::DirectRead {
                ino,
                fblk,
                slot,
                leaf,
            } => self.front_read(ino, fblk, slot, leaf, true, false),
            Op::IndirectRead {
                ino,
                fblk,
                slot,
                leaf,
                crc_ok,
            } => self.front_read(ino, fblk, slot, leaf, false, crc_ok),
            Op::Commit(ino) => {
                let Some(i) = self.inodes.get(ino as usize) else {
                    return self.skip("commit");
                };
                // SAFETY: live, referenced inode.
                unsafe { objects::hammer_sync_inode_records(i.ip) };
            }
            Op::Uncache { ino, fblk, slot } => {
                if ino >= INODES || fblk >= FBLKS || slot.zone != Z::Large || !self.slot_ok(slot) {
                    return self.skip("uncache");
                }
                let ip = self.inodes[ino as usize].ip;
                let mut leaf = ffi::hammer_btree_leaf_elm::default();
                // SAFETY: live inode; the leaf lives across the call.
                unsafe {
                    leaf.base.obj_id = (*ip).obj_id;
                    leaf.base.localization = (*ip).obj_localization + ffi::HAMMER_LOCALIZE_MISC;
                    leaf.base.rec_type = ffi::HAMMER_RECTYPE_DATA;
                    leaf.base.key = (fblk as i64 + 1) * BUFSIZE as i64;
                    leaf.data_offset = self.off(slot);
                    leaf.data_len = BUFSIZE as i32;
                    (self.imp.direct_uncache)(self.hmp(), &mut leaf);
                }
            }
            Op::DelBuffers(s) => {
                if !self.slot_ok(s) || s.zone == Z::Undo {
                    return self.skip("delbuf");
                }
                let off = self.off(s);
                let zone2 = (off & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER;
                // SAFETY: live mount; the zone-2 offset names one of its
                // volumes.
                let r = unsafe {
                    ondisk::hammer_del_buffers(self.hmp(), off, zone2, BUFSIZE as c_int, 1)
                };
                line(&format!("delbuf -> {r}"));
            }
            Op::ClearError(s) => match self.held.get(&s).and_then(|l| l.last()) {
                // SAFETY: we hold a reference on the buffer.
                Some(b) => unsafe { (self.imp.clear_error)(b.io()) },
                None => self.skip("clearerr"),
            },
            Op::NotMeta(s) => match self.held.get(&s).and_then(|l| l.last()) {
                // SAFETY: held buffer; the I/O layer needs its bp.
                Some(b) if unsafe { !(*b.io()).bp.is_null() } => unsafe {
                    (self.imp.notmeta)(b.as_ptr())
                },
                _ => self.skip("notmeta"),
            },
            Op::Fault { kind, vol, n } => {
                if vol >= self.volumes {
                    return self.skip("fault");
                }
                let fop = fault_op(kind);
                self.m().devices()[vol as usize].add_fault(Fault::next(fop, n as u32));
            }
            Op::FaultAt { kind, slot } => {
                if !self.slot_ok(slot) {
                    return self.skip("faultat");
                }
                let (vol, dev_off) = self.m().locate(self.off(slot));
                self.m().devices()[vol as usize].add_fault(Fault::at(
                    fault_op(kind),
                    dev_off,
                    BUFSIZE as u64,
                ));
            }
            Op::ClearFaults => {
                for d in self.m().devices() {
                    d.clear_faults();
                }
            }
        }
    }

    fn node(&mut self, idx: u8, at: u16, byte: u8, undo: bool) {
        let nsize = size_of::<ffi::hammer_node_ondisk>();
        let per_buf = (BUFSIZE / nsize).max(1);
        let slot_idx = (idx as usize) % self.slots as usize;
        let within = ((idx as usize) / self.slots as usize) % per_buf;
        let base = self.m().offset(Zone::Btree, 0, slot_idx as u64);
        let node_off = base + (within * nsize) as u64;
        let at = (at as usize).clamp(8, nsize.saturating_sub(8).max(8));
        let mut t = self.m().start_transaction();
        // SAFETY: a live transaction; the node is referenced between get
        // and rel and modified inside modify/modify_done.
        unsafe {
            let mut error = 0;
            let node = objects::hammer_get_node(t.as_ptr(), node_off, true, &mut error);
            if error != 0 || node.is_null() {
                line(&format!("node error {error}"));
            } else {
                if undo {
                    objects::hammer_modify_node_all(t.as_ptr(), node);
                } else {
                    objects::hammer_modify_node_noundo(t.as_ptr(), node);
                }
                let p = ((*node).ondisk as *mut u8).add(at.min(nsize - 8));
                core::ptr::write_bytes(p, byte, 8);
                objects::hammer_modify_node_done(node);
                objects::hammer_rel_node(node);
            }
        }
        self.m().done_transaction(t);
    }

    /// Whether the HAMMER buffer of `slot` exists with its bp owned by
    /// HAMMER (not released to the kernel).
    fn bp_locked_by_hammer(&self, slot: Slot) -> bool {
        let zone2 = (self.off(slot) & !ffi::HAMMER_OFF_ZONE_MASK) | ffi::HAMMER_ZONE_RAW_BUFFER;
        // SAFETY: live mount; its buffers are live.
        unsafe {
            all_ios(self.hmp()).into_iter().any(|io| {
                (*io).type_ != ffi::HAMMER_STRUCTURE_VOLUME
                    && (*(io as *mut ffi::hammer_buffer)).zone2_offset == zone2
                    && !(*io).bp.is_null()
                    && (*io).released() == 0
            })
        }
    }

    fn inode_vp(&self, ino: u8) -> Option<(ffi::hammer_inode_t, *mut ffi::vnode)> {
        let ip = self.inodes.get(ino as usize)?.ip;
        // SAFETY: live inode with a vnode (set up at start).
        let vp = unsafe { (*ip).vp };
        (!vp.is_null()).then_some((ip, vp))
    }

    fn direct_write(&mut self, ino: u8, fblk: u8, slot: Slot, byte: u8) {
        if fblk >= FBLKS || !self.slot_ok(slot) || !matches!(slot.zone, Z::Large | Z::Small) {
            return self.skip("dwrite");
        }
        let Some((ip, vp)) = self.inode_vp(ino) else {
            return self.skip("dwrite");
        };
        let file_off = fblk as i64 * BUFSIZE as i64;
        // Large data: a whole 16K block at a buffer boundary (the direct
        // path). Small data: 4K inside one HAMMER buffer (the buffered path).
        let (data_off, len) = if slot.zone == Z::Large {
            (self.off(slot), BUFSIZE)
        } else {
            (self.off(slot) + (byte as u64 % 4) * 4096, 4096)
        };
        let data = data_pattern(byte, BUFSIZE);
        self.frontend.insert((ino, fblk));
        // SAFETY: live mount, inode and vnode.
        let (r, w, fl, err) = unsafe {
            front_write(
                &self.imp,
                self.hmp(),
                ip,
                vp,
                file_off,
                &data,
                data_off,
                len,
            )
        };
        line(&format!("dwrite -> {r} wait={w} bflags={fl:x} err={err}"));
    }

    fn front_read(
        &mut self,
        ino: u8,
        fblk: u8,
        slot: Slot,
        leaf: bool,
        direct: bool,
        crc_ok: bool,
    ) {
        if fblk >= FBLKS || !self.slot_ok(slot) || slot.zone != Z::Large {
            return self.skip("fread");
        }
        // An indirect read goes through the device buffer of the block;
        // while this thread holds the HAMMER buffer on it (bp locked, not
        // released) that would wait for itself forever.
        if !direct && self.held.get(&slot).is_some_and(|l| !l.is_empty()) {
            return self.skip("iread of a held buffer");
        }
        // The same when HAMMER itself keeps the buffer's bp locked without
        // the workload holding it (an io with a write error keeps its
        // reference, so its bp is never given back): in HAMMER the read
        // would wait until the error is cleared.
        if !direct && self.bp_locked_by_hammer(slot) {
            return self.skip("iread of a buffer HAMMER keeps locked");
        }
        let Some((ip, vp)) = self.inode_vp(ino) else {
            return self.skip("fread");
        };
        let file_off = fblk as i64 * BUFSIZE as i64;
        let data_off = self.off(slot);
        self.frontend.insert((ino, fblk));
        let mut lf = ffi::hammer_btree_leaf_elm::default();
        // SAFETY: live inode.
        lf.base.obj_id = unsafe { (*ip).obj_id };
        lf.base.rec_type = ffi::HAMMER_RECTYPE_DATA;
        lf.base.key = file_off + BUFSIZE as i64;
        lf.data_offset = data_off;
        lf.data_len = BUFSIZE as i32;
        if leaf && !direct {
            let expect = self.expected_device_data(data_off);
            let crc = kern::crc32_bytes(0, &expect);
            lf.data_crc = if crc_ok { crc } else { crc ^ 1 };
        }
        let lp = if leaf { &mut lf as *mut _ } else { null_mut() };
        // SAFETY: live mount and vnode; the leaf lives across the call.
        let (r, w, fl, err, got) =
            unsafe { front_read(&self.imp, self.hmp(), vp, file_off, data_off, lp, direct) };
        line(&format!(
            "fread -> {r} wait={w} bflags={fl:x} err={err} data={:016x}",
            hash_bytes(&got)
        ));
    }

    /// What a read of the device behind large-data offset `data_off`
    /// should return: a cached device buffer's data, else the device.
    fn expected_device_data(&self, data_off: u64) -> Vec<u8> {
        let (vol, dev_off) = self.m().locate(data_off);
        let dev = &self.m().devices()[vol as usize];
        if let Some(b) = kern::lookup(dev.vnode(), dev_off as i64) {
            if b.flags & ffi::B_CACHE != 0 && b.bcount as usize >= BUFSIZE {
                // SAFETY: a cached buffer's data is readable; nothing else
                // runs (one thread).
                return unsafe {
                    core::slice::from_raw_parts((*b.bp).b_data as *const u8, BUFSIZE).to_vec()
                };
            }
        }
        dev.read_current(dev_off, BUFSIZE)
    }

    /// The five mod trees, with invariant checks.
    fn dump_trees(&self) {
        let hmp = self.hmp();
        // SAFETY: live mount.
        unsafe {
            for (name, head) in [
                ("volu", addr_of_mut!((*hmp).volu_root)),
                ("meta", addr_of_mut!((*hmp).meta_root)),
                ("undo", addr_of_mut!((*hmp).undo_root)),
                ("data", addr_of_mut!((*hmp).data_root)),
                ("lose", addr_of_mut!((*hmp).lose_root)),
            ] {
                let ids: Vec<String> = tracer::mod_tree(head)
                    .into_iter()
                    .map(|io| io_id(io))
                    .collect();
                line(&format!("tree {name} [{}]", ids.join(" ")));
                for e in tracer::check_mod_tree(head, name) {
                    line(&format!("INVARIANT {e}"));
                }
            }
        }
    }

    fn teardown(&mut self) {
        line("TEARDOWN");
        let m = self.m.take().expect("mount");
        for (_, l) in std::mem::take(&mut self.held) {
            for b in l.into_iter().rev() {
                m.rel_buffer(b);
            }
        }
        for (_, l) in std::mem::take(&mut self.vols) {
            for v in l {
                m.rel_volume(v);
            }
        }
        // SAFETY: the inodes are live and referenced by us; their vnodes
        // are unlocked and unreferenced; front-end buffers are idle.
        unsafe {
            for i in &self.inodes {
                objects::hammer_sync_inode_records(i.ip);
            }
            for &(ino, fblk) in &self.frontend {
                let vp = (*self.inodes[ino as usize].ip).vp;
                let bp = ffi::findblk(vp, fblk as i64 * BUFSIZE as i64, 0);
                if !bp.is_null() {
                    ffi::bremfree(bp);
                    (*bp).b_flags |= ffi::B_INVAL | ffi::B_NOCACHE;
                    ffi::brelse(bp);
                }
            }
            for i in std::mem::take(&mut self.inodes) {
                objects::hammer_reclaim_vnode(i.ip);
                objects::hammer_rel_inode(i.ip, 0);
            }
        }
        // The unmount flush, done here so that a critical error it runs
        // into is handled below before the buffers are unloaded.
        let mut rounds = 0;
        while m.has_work() && rounds < 30 {
            m.flush(true);
            rounds += 1;
        }
        // Writes still running (a flush-release outside the flusher) must
        // finish before unloading: one failing later would give its buffer
        // an ioerror reference after the unload dropped the old one.
        m.wait_all(false);
        kern::run_pending_io();
        if m.critical_error() {
            // With a critical error the flusher writes no meta-data, so
            // B-Tree buffers keep the node references their pending CRCs
            // hold, and unloading them would (in HAMMER too) find them
            // referenced. Discard the modifications first, as
            // hammer_del_buffers does: reference, clear_modify(inval),
            // release.
            let hmp = m.hmp();
            // SAFETY: live mount; each io is referenced while worked on.
            unsafe {
                for io in tracer::mod_tree(addr_of_mut!((*hmp).meta_root)) {
                    if (*io).gencrc() != 0 {
                        ondisk::ref_io(io);
                        (self.imp.clear_modify)(io, 1);
                        ondisk::hammer_rel_buffer(ondisk::buffer_of(io), 0);
                    }
                }
            }
        }
        self.m = Some(m);
        self.dump_trees();
        self.state();
        let m = self.m.take().expect("mount");
        let devices: Vec<_> = m.devices().to_vec();
        let layout = m.layout();
        let slots = self.slots as u64 + 2;
        // The ranges a scenario can touch: headers, the UNDO FIFO start
        // and the first buffers of each zone's big-block.
        let mut ranges: Vec<(usize, u64)> = Vec::new();
        for (vi, _) in devices.iter().enumerate() {
            ranges.push((vi, 0));
            for z in [Zone::Btree, Zone::Meta, Zone::LargeData, Zone::SmallData] {
                if vi > 0 && !matches!(z, Zone::LargeData | Zone::SmallData) {
                    continue;
                }
                for i in 0..slots {
                    let off = m.offset(z, vi as i32, i);
                    let (v, d) = m.locate(off);
                    ranges.push((v as usize, d));
                }
            }
        }
        for i in 0..32u64 {
            let (v, d) = m.locate(m.offset(Zone::Undo, 0, i));
            ranges.push((v as usize, d));
        }
        let _ = layout;
        m.unmount();
        kern::run_pending_io();
        line("UNMOUNTED");
        line(&tracer::counters_line());
        for l in tracer::buffers_lines() {
            line(&l);
        }
        for (vi, off) in ranges {
            let d = &devices[vi];
            let st = d.read_stable(off, BUFSIZE);
            let cur = d.read_current(off, BUFSIZE);
            if st == cur {
                line(&format!("media vol{vi} {off:x} {:016x}", hash_bytes(&st)));
            } else {
                line(&format!(
                    "media vol{vi} {off:x} stable={:016x} current={:016x}",
                    hash_bytes(&st),
                    hash_bytes(&cur)
                ));
            }
        }
    }
}

/// Size of each scenario device (more than the mount's layout needs).
const DEVICE_SIZE: u64 = 128 << 20;

/// Names a vnode and the objects inside it that kernel events name.
fn name_vnode(vp: *mut ffi::vnode) {
    let id = kern::vnode_id(vp);
    // SAFETY: only field addresses of a live vnode are computed.
    unsafe {
        tracer::name(
            addr_of_mut!((*vp).v_token) as *const c_void,
            &format!("vn{id}.token"),
        );
        tracer::name(
            addr_of_mut!((*vp).v_lock) as *const c_void,
            &format!("vn{id}.lock"),
        );
    }
    // v_spin is the first field: it shares the vnode's address and name.
    tracer::name(vp as *const c_void, &format!("vn{id}"));
}

fn fault_op(k: FaultKind) -> FaultOp {
    match k {
        FaultKind::Read => FaultOp::Read,
        FaultKind::Write => FaultOp::Write,
    }
}

/// Every io of the mount: volumes then buffers, in tree order.
///
/// # Safety
///
/// `hmp` is live.
pub unsafe fn all_ios(hmp: ffi::hammer_mount_t) -> Vec<*mut ffi::hammer_io> {
    let mut out = Vec::new();
    // SAFETY: caller contract; the trees hold live structures.
    unsafe {
        let mut vols = Vec::new();
        tracer::rb_inorder(
            (*hmp).rb_vols_root.rbh_root,
            |v: *mut ffi::hammer_volume| ((*v).rb_node.rbe_left, (*v).rb_node.rbe_right),
            &mut vols,
        );
        out.extend(vols.into_iter().map(|v| addr_of_mut!((*v).io)));
        let mut bufs = Vec::new();
        tracer::rb_inorder(
            (*hmp).rb_bufs_root.rbh_root,
            |b: *mut ffi::hammer_buffer| ((*b).rb_node.rbe_left, (*b).rb_node.rbe_right),
            &mut bufs,
        );
        out.extend(bufs.into_iter().map(|b| addr_of_mut!((*b).io)));
    }
    out
}

/// Result of one scenario run.
pub struct Outcome {
    pub lines: u64,
    pub hash: u64,
    pub kept: Vec<String>,
}

/// Runs `sc` against `inner` on a fresh deterministic machine. Trace lines
/// go to `dump` (if given) and are kept in memory when `keep`.
pub fn run(sc: &Scenario, inner: IoImpl, dump: Option<std::fs::File>, keep: bool) -> Outcome {
    let _g = kern::exclusive();
    let cfg =
        Config::deterministic(sc.setup.machine_seed).with_buffer_limit(sc.setup.nbuf as usize);
    kern::boot(cfg);
    globals::reset();
    globals::hammer_cluster_enable.store(sc.setup.cluster as i32, Ordering::SeqCst);
    globals::hammer_verify_data.store(sc.setup.verify as i32, Ordering::SeqCst);
    tracer::start(dump, keep);
    tracer::NAMING.store(NAME_OBJECTS, Ordering::Relaxed);
    tracer::forget_names();
    RECORDS.store(0, Ordering::Relaxed);
    line(&format!("SCENARIO seed={} {}", sc.seed, sc.setup));
    tracer::install_kernel_sink();
    let imp = tracer::tracing_impl(inner);
    // The devices are made here so that their vnodes are named before the
    // mount does I/O on them (a generous size: memory devices are sparse).
    let devices: Vec<Device> = (0..sc.setup.volumes)
        .map(|i| {
            let d = Device::memory(&format!("hammer{i}"), DEVICE_SIZE);
            name_vnode(d.vnode());
            d
        })
        .collect();
    let m = Mount::builder()
        .devices(devices, true)
        .implementation(imp)
        .build();
    for d in m.devices() {
        d.set_write_cache(sc.setup.write_cache);
    }
    let mut ex = Exec {
        m: Some(m),
        imp,
        nbuf: sc.setup.nbuf,
        volumes: sc.setup.volumes,
        slots: sc.setup.slots,
        held: BTreeMap::new(),
        vols: BTreeMap::new(),
        inodes: Vec::new(),
        frontend: BTreeSet::new(),
        state_lines: true,
        last_ios: BTreeMap::new(),
        last_bufs: BTreeMap::new(),
    };
    for i in 0..INODES {
        let ip = ex.m().create_inode(0x100 + i as i64);
        let mut vp = null_mut();
        // SAFETY: live inode; the fresh vnode comes back locked and
        // referenced and is put back at once (the inode keeps it).
        unsafe {
            let e = ffi::hammer_get_vnode(ip, &mut vp);
            assert_eq!(e, 0, "hammer_get_vnode");
            name_vnode(vp);
            ffi::vput(vp);
        }
        ex.inodes.push(Inode { ip });
    }
    line("SETUP DONE");
    ex.state();
    for (i, op) in sc.ops.iter().enumerate() {
        tracer::set_op(Some(i));
        line(&format!("OP {i} {op}"));
        ex.op(op);
        ex.state();
        tracer::flush();
    }
    tracer::set_op(None);
    ex.teardown();
    kern::trace::set_sink(None);
    let (lines, hash, kept) = tracer::finish();
    Outcome { lines, hash, kept }
}

/// A front-end write of one 16K file block, as hammer_vop_strategy_write
/// does it: the file buffer (locked) is handed to
/// `hammer_io_direct_write` with a new bulk record for `len` bytes at
/// zone-X `data_off`, then waited for. Returns (result, biowait result,
/// b_flags, b_error).
///
/// # Safety
///
/// `hmp`, `ip` and `vp` are live and belong together; `data` is 16K.
#[allow(clippy::too_many_arguments)]
pub unsafe fn front_write(
    imp: &IoImpl,
    hmp: ffi::hammer_mount_t,
    ip: ffi::hammer_inode_t,
    vp: *mut ffi::vnode,
    file_off: i64,
    data: &[u8],
    data_off: u64,
    len: usize,
) -> (c_int, c_int, u32, c_int) {
    // SAFETY: caller contract; the buffer is ours (locked by getblk)
    // until released.
    unsafe {
        let bp = ffi::getblk(vp, file_off, BUFSIZE as c_int, 0, 0);
        core::ptr::copy_nonoverlapping(data.as_ptr(), (*bp).b_data as *mut u8, BUFSIZE);
        (*bp).b_flags &= !(ffi::B_ERROR | ffi::B_EINTR);
        (*bp).b_flags |= ffi::B_CACHE;
        (*bp).b_error = 0;
        (*bp).b_cmd = ffi::BUF_CMD_WRITE;
        let bio = addr_of_mut!((*bp).b_bio_array[0]);
        (*bio).bio_done = Some(ffi::biodone_sync);
        (*bio).bio_flags |= ffi::BIO_SYNC;
        let record = objects::hammer_ip_add_bulk(
            ip,
            file_off,
            (*bp).b_data as *const c_void,
            len as c_int,
            data_off,
        );
        let r = (imp.direct_write)(hmp, bio, record);
        let w = ffi::biowait(bio, c"hmrdw".as_ptr());
        let (fl, err) = ((*bp).b_flags, (*bp).b_error);
        if fl & ffi::B_ERROR != 0 {
            (*bp).b_flags |= ffi::B_INVAL;
            ffi::brelse(bp);
        } else {
            ffi::bqrelse(bp);
        }
        (r, w, fl, err)
    }
}

/// A front-end read of one 16K file block from large-data `data_off`, as
/// hammer_vop_strategy_read does it: the second bio gets the data offset
/// and goes to `hammer_io_direct_read` (or `_indirect_read`); then
/// biowait. Returns (result, biowait result, b_flags, b_error, data).
///
/// # Safety
///
/// `hmp` and `vp` are live; `leaf` null or live across the call.
pub unsafe fn front_read(
    imp: &IoImpl,
    hmp: ffi::hammer_mount_t,
    vp: *mut ffi::vnode,
    file_off: i64,
    data_off: u64,
    leaf: ffi::hammer_btree_leaf_elm_t,
    direct: bool,
) -> (c_int, c_int, u32, c_int, Vec<u8>) {
    // SAFETY: caller contract.
    unsafe {
        let bp = ffi::getblk(vp, file_off, BUFSIZE as c_int, 0, 0);
        (*bp).b_flags &= !(ffi::B_CACHE | ffi::B_ERROR | ffi::B_EINTR | ffi::B_INVAL);
        (*bp).b_error = 0;
        (*bp).b_cmd = ffi::BUF_CMD_READ;
        let bio = addr_of_mut!((*bp).b_bio_array[0]);
        (*bio).bio_done = Some(ffi::biodone_sync);
        (*bio).bio_flags |= ffi::BIO_SYNC;
        let nbio = ffi::push_bio(bio);
        (*nbio).bio_offset = data_off as i64;
        let r = if direct {
            (imp.direct_read)(hmp, nbio, leaf)
        } else {
            (imp.indirect_read)(hmp, nbio, leaf)
        };
        let w = ffi::biowait(bio, c"hmrrd".as_ptr());
        let got = core::slice::from_raw_parts((*bp).b_data as *const u8, BUFSIZE).to_vec();
        let (fl, err) = ((*bp).b_flags, (*bp).b_error);
        if fl & ffi::B_ERROR != 0 {
            (*bp).b_flags |= ffi::B_INVAL;
            ffi::brelse(bp);
        } else {
            (*bp).b_flags |= ffi::B_CACHE;
            ffi::bqrelse(bp);
        }
        (r, w, fl, err, got)
    }
}
