//! Invariants of the I/O layer that a test can check between steps
//! (buffer-cache-semantics.md, section 6), against a [`Mount`] and the
//! hosted buffer cache:
//!
//! 1. `b_dep` of a buffer holds at most one element, a live `hammer_io`
//!    of the mount whose `bp` is that buffer (and every io with a `bp`
//!    is that buffer's first dependency);
//! 2. a buffer that sits unlocked on a kernel queue while associated has
//!    `io->released == 1` (HAMMER only lets go of a buffer it released);
//! 3. `io_checkwrite` never answers 0 for a volume-header or meta-data
//!    buffer (observed through the kernel trace, see [`CheckwriteSpy`]);
//! 4. a modified io is never disassociated (`modified` implies a `bp`),
//!    and the mod trees agree with the io states (volu/meta/undo/data:
//!    modified, right type; lose: clean, no `bp`), with
//!    `locked_dirty_space` the bytes on volu+meta;
//! 5. `iorun_list` holds exactly the ios with `running == 1` (plus
//!    `HAMMER_STRUCTURE_DUMMY` placemarkers), and `io_running_space` is
//!    their byte total;
//! 6. at the end, the counters are back to zero ([`check_quiescent`]);
//! 7. data that was flushed is on stable media ([`check_stable`]).
//!
//! Each check returns the list of violations (empty: fine), so a test can
//! print all of them at once.

use core::ptr::addr_of_mut;
use core::sync::atomic::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::format;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::globals::{self, counters};
use super::lock;
use super::mount::{Mount, Zone};
use super::queue::{tailq_first, tailq_next};
use super::trees::{BufTree, VolTree};
use crate::hosted::kern::trace;
use crate::sys::ffi;

/// Buffer-cache queue index meaning "on no queue" (`BQUEUE_NONE`).
const BQUEUE_NONE: u32 = 0;

/// What the invariants need to know about one `hammer_io`.
#[derive(Clone, Debug)]
pub struct IoState {
    /// Address of the io.
    pub io: usize,
    /// `HAMMER_STRUCTURE_*`
    pub type_: ffi::hammer_io_type,
    /// zone-2 device offset (`io->offset`) and volume number.
    pub offset: i64,
    /// Volume number.
    pub vol_no: i32,
    /// `io->bytes`
    pub bytes: i32,
    /// The associated buffer, if any.
    pub bp: usize,
    /// `io->modified`, `released`, `running`, `ioerror`
    pub modified: bool,
    /// `io->released`
    pub released: bool,
    /// `io->running`
    pub running: bool,
    /// `io->ioerror`
    pub ioerror: bool,
    /// Which mod tree (`mod_root`) the io is on.
    pub mod_root: usize,
    /// Active references.
    pub refs: u32,
}

/// Reads one io.
///
/// # Safety
///
/// `io` is a live io of a live mount.
unsafe fn io_state(io: *mut ffi::hammer_io) -> IoState {
    // SAFETY: caller contract.
    unsafe {
        IoState {
            io: io as usize,
            type_: (*io).type_,
            offset: (*io).offset,
            vol_no: if (*io).volume.is_null() {
                -1
            } else {
                (*(*io).volume).vol_no
            },
            bytes: (*io).bytes,
            bp: (*io).bp as usize,
            modified: (*io).modified() != 0,
            released: (*io).released() != 0,
            running: (*io).running() != 0,
            ioerror: (*io).ioerror() != 0,
            mod_root: (*io).mod_root as usize,
            refs: lock::isactive(addr_of_mut!((*io).lock)),
        }
    }
}

/// Every io of the mount: volumes, then buffers in tree order.
pub fn ios(m: &Mount) -> Vec<IoState> {
    let hmp = m.hmp();
    let mut v = Vec::new();
    // SAFETY: the mount is live; both scans only read.
    unsafe {
        VolTree::scan_with(
            addr_of_mut!((*hmp).rb_vols_root),
            |_| 0,
            |vol| {
                v.push(io_state(addr_of_mut!((*vol).io)));
                0
            },
        );
        BufTree::scan_with(
            addr_of_mut!((*hmp).rb_bufs_root),
            |_| 0,
            |b| {
                v.push(io_state(addr_of_mut!((*b).io)));
                0
            },
        );
    }
    v
}

/// Checks 1, 2, 4 and 5 on the mount's current state.
pub fn check(m: &Mount) -> Vec<String> {
    let hmp = m.hmp();
    let mut errs = Vec::new();
    let all = ios(m);
    let by_addr: BTreeMap<usize, &IoState> = all.iter().map(|s| (s.io, s)).collect();

    // SAFETY: the mount, its ios and the buffers they point at are live
    // (an associated buffer stays allocated by the kernel model); this
    // only reads.
    unsafe {
        let roots = [
            ("volu_root", addr_of_mut!((*hmp).volu_root) as usize),
            ("meta_root", addr_of_mut!((*hmp).meta_root) as usize),
            ("undo_root", addr_of_mut!((*hmp).undo_root) as usize),
            ("data_root", addr_of_mut!((*hmp).data_root) as usize),
            ("lose_root", addr_of_mut!((*hmp).lose_root) as usize),
        ];
        let root_name = |r: usize| roots.iter().find(|(_, a)| *a == r).map_or("?", |(n, _)| *n);

        for s in &all {
            let what = format!(
                "io {:#x} (type {}, vol {}, off {:#x})",
                s.io, s.type_, s.vol_no, s.offset
            );
            // (1) the association is mutual and exclusive.
            if s.bp != 0 {
                let bp = s.bp as *mut ffi::buf;
                let first = (*bp).b_dep.lh_first as usize;
                if first != s.io {
                    errs.push(format!(
                        "{what}: io->bp's first dependency is {first:#x}, not the io"
                    ));
                } else {
                    let next = (*(first as *mut ffi::worklist)).node.le_next;
                    if !next.is_null() {
                        errs.push(format!("{what}: b_dep has more than one element"));
                    }
                }
                // (2) queued and unlocked implies released.
                let queued = (*bp).b_qindex != BQUEUE_NONE;
                let locked = (*bp).b_lock.lk_count != 0;
                if queued && !locked && !s.released {
                    errs.push(format!(
                        "{what}: buffer is queued and unlocked but io->released == 0"
                    ));
                }
            }
            // (4) modified implies associated, and the right mod tree.
            if s.modified {
                if s.bp == 0 {
                    errs.push(format!("{what}: modified io has no buffer"));
                }
                let want = match s.type_ {
                    ffi::HAMMER_STRUCTURE_VOLUME => "volu_root",
                    ffi::HAMMER_STRUCTURE_META_BUFFER => "meta_root",
                    ffi::HAMMER_STRUCTURE_UNDO_BUFFER => "undo_root",
                    _ => "data_root",
                };
                if root_name(s.mod_root) != want {
                    errs.push(format!(
                        "{what}: modified io is on {} instead of {want}",
                        root_name(s.mod_root)
                    ));
                }
            } else if s.mod_root != 0 && root_name(s.mod_root) != "lose_root" {
                errs.push(format!("{what}: clean io is on {}", root_name(s.mod_root)));
            }
            if root_name(s.mod_root) == "lose_root" && (s.bp != 0 || s.refs != 0) {
                errs.push(format!(
                    "{what}: io on lose_root still has a buffer or references"
                ));
            }
        }

        // (4) the trees hold only ios of the mount, and the dirty byte count
        // matches.
        let imp = m.implementation();
        let mut locked_dirty: i64 = 0;
        for (name, root) in roots {
            let root = root as *mut ffi::hammer_mod_rb_tree;
            let mut io = (imp.mod_minmax)(root, -1);
            while !io.is_null() {
                match by_addr.get(&(io as usize)) {
                    None => errs.push(format!(
                        "{name} holds {:#x}, not an io of the mount",
                        io as usize
                    )),
                    Some(s) => {
                        if root_name(s.mod_root) != name {
                            errs.push(format!(
                                "{name} holds io {:#x} whose mod_root says otherwise",
                                s.io
                            ));
                        }
                        if name == "volu_root" || name == "meta_root" {
                            locked_dirty += s.bytes as i64;
                        }
                    }
                }
                io = (imp.mod_next)(io);
            }
        }
        if (*hmp).locked_dirty_space != locked_dirty {
            errs.push(format!(
                "locked_dirty_space is {} but volu+meta hold {locked_dirty} bytes",
                (*hmp).locked_dirty_space
            ));
        }

        // (5) iorun_list == running ios.
        let mut on_list = HashSet::new();
        let mut running_bytes: i64 = 0;
        let mut io = tailq_first!(addr_of_mut!((*hmp).iorun_list));
        while !io.is_null() {
            if (*io).type_ != ffi::HAMMER_STRUCTURE_DUMMY {
                if !on_list.insert(io as usize) {
                    errs.push(format!("io {:#x} is on iorun_list twice", io as usize));
                }
                match by_addr.get(&(io as usize)) {
                    None => errs.push(format!(
                        "iorun_list holds {:#x}, not an io of the mount",
                        io as usize
                    )),
                    Some(s) => {
                        if !s.running {
                            errs.push(format!("io {:#x} is on iorun_list but not running", s.io));
                        }
                        running_bytes += s.bytes as i64;
                    }
                }
            }
            io = tailq_next!(io, iorun_entry);
        }
        for s in &all {
            if s.running && !on_list.contains(&s.io) {
                errs.push(format!("io {:#x} is running but not on iorun_list", s.io));
            }
        }
        if (*hmp).io_running_space != running_bytes {
            errs.push(format!(
                "io_running_space is {} but the running ios total {running_bytes} bytes",
                (*hmp).io_running_space
            ));
        }
    }
    errs
}

/// Check 6: after unmount (or with no I/O in flight and nothing
/// referenced), every counter the I/O layer maintains is back to zero.
pub fn check_quiescent() -> Vec<String> {
    let c = counters();
    let mut errs = Vec::new();
    let mut want0 = |name: &str, v: i64| {
        if v != 0 {
            errs.push(format!("{name} is {v}, expected 0"));
        }
    };
    want0("hammer_count_dirtybufspace", c.dirtybufspace);
    want0("hammer_count_io_locked", c.io_locked as i64);
    want0("hammer_count_io_running_read", c.io_running_read);
    want0("hammer_count_io_running_write", c.io_running_write);
    // hammer_count_refedbufs is not checked: the kernel's own accounting
    // of it is inexact (a buffer that took an I/O error gets a bare
    // reference nobody counted, and unloading it subtracts one anyway), and
    // the hosted code keeps the kernel's arithmetic.
    want0("hammer_count_buffers", c.buffers as i64);
    want0("hammer_count_volumes", c.volumes as i64);
    want0("hammer_count_nodes", c.nodes as i64);
    want0("hammer_count_inodes", c.inodes as i64);
    want0("hammer_count_records", c.records as i64);
    errs
}

/// Check 7: the bytes at zone-X offset `zone_x` are on the stable media
/// of the mount's device.
pub fn check_stable(m: &Mount, zone_x: u64, expect: &[u8]) -> Vec<String> {
    let (vol, dev_off) = m.locate(zone_x);
    let got = m.devices()[vol as usize].read_stable(dev_off, expect.len());
    if got == expect {
        Vec::new()
    } else {
        let first = got
            .iter()
            .zip(expect)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        std::vec![format!(
            "stable media of volume {vol} at {dev_off:#x} (zone-X {zone_x:#x}) differs from what was \
             written, first at byte {first}: {:#04x} != {:#04x}",
            got[first], expect[first]
        )]
    }
}

/// One `io_checkwrite` answer seen in the kernel trace.
#[derive(Clone, Debug)]
pub struct CheckwriteAnswer {
    /// Device vnode id and byte offset of the buffer.
    pub vnode: u32,
    /// Device offset.
    pub offset: i64,
    /// The callback's result (0: the kernel writes the buffer).
    pub result: i64,
}

/// Records every `io_checkwrite` answer through the kernel trace (check
/// 3). Installing it replaces any other trace sink; a previous sink can be
/// chained with [`CheckwriteSpy::install_chained`].
#[derive(Clone, Default)]
pub struct CheckwriteSpy {
    seen: Arc<Mutex<Vec<CheckwriteAnswer>>>,
}

impl CheckwriteSpy {
    /// Installs the spy as the trace sink.
    pub fn install() -> CheckwriteSpy {
        Self::install_chained(None)
    }

    /// Installs the spy, forwarding every event to `next` as well.
    pub fn install_chained(next: Option<trace::Sink>) -> CheckwriteSpy {
        let spy = CheckwriteSpy::default();
        let seen = spy.seen.clone();
        trace::set_sink(Some(Arc::new(move |e: &trace::Event| {
            if e.func == "io_checkwrite" && e.kind == trace::Kind::Return {
                if let Some(b) = e.buf {
                    seen.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(CheckwriteAnswer {
                            vnode: b.vnode,
                            offset: b.offset,
                            result: e.args.first().copied().unwrap_or(-1),
                        });
                }
            }
            if let Some(n) = &next {
                n(e);
            }
        })));
        spy
    }

    /// Every answer so far.
    pub fn answers(&self) -> Vec<CheckwriteAnswer> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Check 3 for `m`: approvals (result 0) only for UNDO and data
    /// buffers of the mount's devices.
    pub fn check(&self, m: &Mount) -> Vec<String> {
        let mut errs = Vec::new();
        let vnodes: Vec<u32> = m
            .devices()
            .iter()
            .map(|d| crate::hosted::kern::vnode_id(d.vnode()))
            .collect();
        for a in self.answers() {
            let Some(vol) = vnodes.iter().position(|&v| v == a.vnode) else {
                continue;
            };
            if a.result != 0 {
                continue;
            }
            let kind = classify(m, vol as i32, a.offset);
            if matches!(kind, Kind::Volume | Kind::Meta) {
                errs.push(format!(
                    "io_checkwrite approved a {kind:?} buffer (volume {vol}, device offset {:#x})",
                    a.offset
                ));
            }
        }
        errs
    }
}

/// What a device offset holds in the mount's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The volume header.
    Volume,
    /// B-Tree or meta zone.
    Meta,
    /// UNDO FIFO.
    Undo,
    /// Large or small data.
    Data,
    /// Anything else (boot/mem areas, freemap).
    Other,
}

/// Classifies device offset `dev_off` of volume `vol_no`.
pub fn classify(m: &Mount, vol_no: i32, dev_off: i64) -> Kind {
    let l = m.layout();
    if dev_off < l.buf_beg as i64 {
        return if dev_off < ffi::HAMMER_BUFSIZE as i64 {
            Kind::Volume
        } else {
            Kind::Other
        };
    }
    let bb = (dev_off as u64 - l.buf_beg) / super::off::LARGEBLOCK_SIZE64;
    let is = |z: Zone| {
        if vol_no != 0 && !matches!(z, Zone::LargeData | Zone::SmallData) {
            return false;
        }
        if z == Zone::Undo {
            return vol_no == 0 && bb >= 1 && bb < 1 + l.undo_bigblocks;
        }
        l.bigblock_of(z, vol_no) == bb
    };
    if is(Zone::Btree) || is(Zone::Meta) {
        Kind::Meta
    } else if is(Zone::Undo) {
        Kind::Undo
    } else if is(Zone::LargeData) || is(Zone::SmallData) {
        Kind::Data
    } else {
        Kind::Other
    }
}

/// Resets the counters of the hosted HAMMER globals (start of a test).
pub fn reset_counters() {
    globals::reset();
}

/// The value of `hammer_count_io_locked` (pinned buffers).
pub fn io_locked() -> i32 {
    globals::hammer_count_io_locked.load(Ordering::SeqCst)
}
