//! The operations a conformance scenario is made of, their one-line text
//! form (so a failing sequence can be written out, read back and shrunk),
//! and the seeded generator.
//!
//! An operation says what HAMMER does to its I/O layer at one point:
//! acquire or release a buffer, modify it (with or without UNDO), run a
//! flusher cycle, let the kernel act (I/O completion, buffer daemon,
//! recycling, syncer), do front-end direct I/O, inject device faults.
//! The generator only produces sequences that respect the preconditions
//! the C asserts, using a model of what the workload holds; the executor
//! re-checks those preconditions against the same kind of model and skips
//! an operation that is no longer legal, so any sub-sequence of a legal
//! sequence (what shrinking produces) can be replayed.

use std::fmt;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// The zones a scenario addresses buffers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Z {
    /// B-Tree zone (meta-data buffers).
    Btree,
    /// Meta zone (meta-data buffers).
    Meta,
    /// Large-data zone (data buffers; direct I/O lives here).
    Large,
    /// Small-data zone (data buffers).
    Small,
    /// The UNDO FIFO (undo buffers; only read by the workload itself,
    /// written by hammer_generate_undo).
    Undo,
}

impl Z {
    fn letter(self) -> char {
        match self {
            Z::Btree => 'B',
            Z::Meta => 'M',
            Z::Large => 'L',
            Z::Small => 'S',
            Z::Undo => 'U',
        }
    }

    fn from_letter(c: char) -> Option<Z> {
        Some(match c {
            'B' => Z::Btree,
            'M' => Z::Meta,
            'L' => Z::Large,
            'S' => Z::Small,
            'U' => Z::Undo,
            _ => return None,
        })
    }

    /// Only volume 0 holds every zone; other volumes hold data zones.
    pub fn on_volume(self, vol: u8) -> bool {
        vol == 0 || matches!(self, Z::Large | Z::Small)
    }
}

/// One 16K HAMMER buffer of a scenario: zone, volume, index inside the
/// zone's big-block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub zone: Z,
    pub vol: u8,
    pub idx: u8,
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}.{}", self.zone.letter(), self.vol, self.idx)
    }
}

impl Slot {
    fn parse(s: &str) -> Result<Slot, String> {
        let mut it = s.chars();
        let zone = it
            .next()
            .and_then(Z::from_letter)
            .ok_or_else(|| format!("bad slot {s}"))?;
        let rest: String = it.collect();
        let (v, i) = rest
            .split_once('.')
            .ok_or_else(|| format!("bad slot {s}"))?;
        Ok(Slot {
            zone,
            vol: v.parse().map_err(|_| format!("bad slot {s}"))?,
            idx: i.parse().map_err(|_| format!("bad slot {s}"))?,
        })
    }
}

/// Which device operation a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    Read,
    Write,
}

/// One step of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `hammer_get_volume` (one more reference held by the workload).
    GetVol(u8),
    /// `hammer_rel_volume(volume, 0)` of a reference the workload holds.
    RelVol(u8),
    /// `hammer_bread` (a reference held by the workload).
    Bread(Slot),
    /// `hammer_bnew` (cleared and modified; a reference held).
    Bnew(Slot),
    /// `hammer_rel_buffer(buffer, 0)`.
    Rel(Slot),
    /// Last reference released with a flush request
    /// (`hammer_rel_buffer(buffer, 1)` under the interlock).
    RelFlush(Slot),
    /// `hammer_modify_buffer` + write `len` bytes of `byte` at `at` +
    /// `hammer_modify_buffer_done`, with an UNDO record when `undo`.
    Modify {
        slot: Slot,
        at: u16,
        len: u16,
        byte: u8,
        undo: bool,
    },
    /// The same on a volume header (in the unused tail of its buffer).
    ModifyVol {
        vol: u8,
        at: u16,
        len: u16,
        byte: u8,
        undo: bool,
    },
    /// A B-Tree node: get, modify (all, with UNDO, or no-UNDO), write,
    /// modify_done (NEEDSCRC: the CRC is computed at flush time), release.
    Node {
        idx: u8,
        at: u16,
        byte: u8,
        undo: bool,
    },
    /// One flusher finalization in HAMMER's order.
    Flush { final_: bool },
    /// `hammer_io_wait_all(hmp, ident, doflush)`.
    WaitAll { doflush: bool },
    /// `hammer_io_flush_sync`.
    FlushSync,
    /// `hammer_io_limit_backlog`.
    LimitBacklog,
    /// Complete one pending device request (the seed picks which).
    IoOne,
    /// Complete every pending device request.
    IoAll,
    /// One buffer daemon pass.
    BufDaemon,
    /// Recycle up to n clean buffers (as getnewbuf does under pressure).
    Recycle(u8),
    /// One syncer pass.
    Syncer,
    /// Simulated VM page shortage on/off.
    VmShortage(bool),
    /// Front-end write of a 16K block of inode `ino` at file block `fblk`
    /// whose data lives in `slot` (large-data: direct, small-data:
    /// through a HAMMER buffer), via `hammer_io_direct_write`.
    DirectWrite {
        ino: u8,
        fblk: u8,
        slot: Slot,
        byte: u8,
    },
    /// Front-end read of a large-data block through
    /// `hammer_io_direct_read` (`leaf`: pass a leaf).
    DirectRead {
        ino: u8,
        fblk: u8,
        slot: Slot,
        leaf: bool,
    },
    /// The same through `hammer_io_indirect_read` (with a leaf the CRC is
    /// checked against `crc_ok` ? the expected data : a wrong CRC).
    IndirectRead {
        ino: u8,
        fblk: u8,
        slot: Slot,
        leaf: bool,
        crc_ok: bool,
    },
    /// Commit the inode's in-memory records (direct_wait on each).
    Commit(u8),
    /// `hammer_io_direct_uncache` for the block written at `slot`.
    Uncache { ino: u8, fblk: u8, slot: Slot },
    /// `hammer_del_buffers` over a slot's 16K (which calls
    /// `hammer_io_inval`).
    DelBuffers(Slot),
    /// `hammer_io_clear_error` on a held buffer.
    ClearError(Slot),
    /// `hammer_io_notmeta` on a held buffer.
    NotMeta(Slot),
    /// Make the next `n` device requests of a kind on volume `vol` fail.
    Fault { kind: FaultKind, vol: u8, n: u8 },
    /// Make every request of a kind touching `slot` fail (until cleared).
    FaultAt { kind: FaultKind, slot: Slot },
    /// Remove all faults of all devices.
    ClearFaults,
}

fn b(x: bool) -> u8 {
    x as u8
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::GetVol(v) => write!(f, "getvol {v}"),
            Op::RelVol(v) => write!(f, "relvol {v}"),
            Op::Bread(s) => write!(f, "bread {s}"),
            Op::Bnew(s) => write!(f, "bnew {s}"),
            Op::Rel(s) => write!(f, "rel {s}"),
            Op::RelFlush(s) => write!(f, "relflush {s}"),
            Op::Modify {
                slot,
                at,
                len,
                byte,
                undo,
            } => {
                write!(f, "modify {slot} {at} {len} {byte} {}", b(*undo))
            }
            Op::ModifyVol {
                vol,
                at,
                len,
                byte,
                undo,
            } => {
                write!(f, "modvol {vol} {at} {len} {byte} {}", b(*undo))
            }
            Op::Node {
                idx,
                at,
                byte,
                undo,
            } => write!(f, "node {idx} {at} {byte} {}", b(*undo)),
            Op::Flush { final_ } => write!(f, "flush {}", b(*final_)),
            Op::WaitAll { doflush } => write!(f, "waitall {}", b(*doflush)),
            Op::FlushSync => write!(f, "flushsync"),
            Op::LimitBacklog => write!(f, "backlog"),
            Op::IoOne => write!(f, "io1"),
            Op::IoAll => write!(f, "ioall"),
            Op::BufDaemon => write!(f, "bufdaemon"),
            Op::Recycle(n) => write!(f, "recycle {n}"),
            Op::Syncer => write!(f, "syncer"),
            Op::VmShortage(on) => write!(f, "vmshort {}", b(*on)),
            Op::DirectWrite {
                ino,
                fblk,
                slot,
                byte,
            } => write!(f, "dwrite {ino} {fblk} {slot} {byte}"),
            Op::DirectRead {
                ino,
                fblk,
                slot,
                leaf,
            } => write!(f, "dread {ino} {fblk} {slot} {}", b(*leaf)),
            Op::IndirectRead {
                ino,
                fblk,
                slot,
                leaf,
                crc_ok,
            } => {
                write!(f, "iread {ino} {fblk} {slot} {} {}", b(*leaf), b(*crc_ok))
            }
            Op::Commit(i) => write!(f, "commit {i}"),
            Op::Uncache { ino, fblk, slot } => write!(f, "uncache {ino} {fblk} {slot}"),
            Op::DelBuffers(s) => write!(f, "delbuf {s}"),
            Op::ClearError(s) => write!(f, "clearerr {s}"),
            Op::NotMeta(s) => write!(f, "notmeta {s}"),
            Op::Fault { kind, vol, n } => write!(f, "fault {} {vol} {n}", kind_str(*kind)),
            Op::FaultAt { kind, slot } => write!(f, "faultat {} {slot}", kind_str(*kind)),
            Op::ClearFaults => write!(f, "clearfaults"),
        }
    }
}

fn kind_str(k: FaultKind) -> &'static str {
    match k {
        FaultKind::Read => "r",
        FaultKind::Write => "w",
    }
}

impl std::str::FromStr for Op {
    type Err = String;

    fn from_str(line: &str) -> Result<Op, String> {
        let w: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("bad op line: {line}");
        let n = |i: usize| -> Result<u64, String> {
            w.get(i).and_then(|s| s.parse().ok()).ok_or_else(bad)
        };
        let s = |i: usize| -> Result<Slot, String> { Slot::parse(w.get(i).ok_or_else(bad)?) };
        let fl = |i: usize| -> Result<bool, String> { Ok(n(i)? != 0) };
        let kind = |i: usize| -> Result<FaultKind, String> {
            match w.get(i).copied() {
                Some("r") => Ok(FaultKind::Read),
                Some("w") => Ok(FaultKind::Write),
                _ => Err(bad()),
            }
        };
        let op = match *w.first().ok_or_else(bad)? {
            "getvol" => Op::GetVol(n(1)? as u8),
            "relvol" => Op::RelVol(n(1)? as u8),
            "bread" => Op::Bread(s(1)?),
            "bnew" => Op::Bnew(s(1)?),
            "rel" => Op::Rel(s(1)?),
            "relflush" => Op::RelFlush(s(1)?),
            "modify" => Op::Modify {
                slot: s(1)?,
                at: n(2)? as u16,
                len: n(3)? as u16,
                byte: n(4)? as u8,
                undo: fl(5)?,
            },
            "modvol" => Op::ModifyVol {
                vol: n(1)? as u8,
                at: n(2)? as u16,
                len: n(3)? as u16,
                byte: n(4)? as u8,
                undo: fl(5)?,
            },
            "node" => Op::Node {
                idx: n(1)? as u8,
                at: n(2)? as u16,
                byte: n(3)? as u8,
                undo: fl(4)?,
            },
            "flush" => Op::Flush { final_: fl(1)? },
            "waitall" => Op::WaitAll { doflush: fl(1)? },
            "flushsync" => Op::FlushSync,
            "backlog" => Op::LimitBacklog,
            "io1" => Op::IoOne,
            "ioall" => Op::IoAll,
            "bufdaemon" => Op::BufDaemon,
            "recycle" => Op::Recycle(n(1)? as u8),
            "syncer" => Op::Syncer,
            "vmshort" => Op::VmShortage(fl(1)?),
            "dwrite" => Op::DirectWrite {
                ino: n(1)? as u8,
                fblk: n(2)? as u8,
                slot: s(3)?,
                byte: n(4)? as u8,
            },
            "dread" => Op::DirectRead {
                ino: n(1)? as u8,
                fblk: n(2)? as u8,
                slot: s(3)?,
                leaf: fl(4)?,
            },
            "iread" => Op::IndirectRead {
                ino: n(1)? as u8,
                fblk: n(2)? as u8,
                slot: s(3)?,
                leaf: fl(4)?,
                crc_ok: fl(5)?,
            },
            "commit" => Op::Commit(n(1)? as u8),
            "uncache" => Op::Uncache {
                ino: n(1)? as u8,
                fblk: n(2)? as u8,
                slot: s(3)?,
            },
            "delbuf" => Op::DelBuffers(s(1)?),
            "clearerr" => Op::ClearError(s(1)?),
            "notmeta" => Op::NotMeta(s(1)?),
            "fault" => Op::Fault {
                kind: kind(1)?,
                vol: n(2)? as u8,
                n: n(3)? as u8,
            },
            "faultat" => Op::FaultAt {
                kind: kind(1)?,
                slot: s(2)?,
            },
            "clearfaults" => Op::ClearFaults,
            _ => return Err(bad()),
        };
        Ok(op)
    }
}

/// The machine and mount a scenario runs on (decided by the seed, kept
/// with the operations so a shrunk scenario replays on the same setup).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Number of volumes (1 or 2).
    pub volumes: u8,
    /// Buffer-cache limit in buffers (small values force recycling).
    pub nbuf: u16,
    /// Slots per zone the workload uses (indexes 0..slots).
    pub slots: u8,
    /// `hammer_cluster_enable` (read clustering on or off).
    pub cluster: bool,
    /// `hammer_verify_data`.
    pub verify: bool,
    /// Device write cache on.
    pub write_cache: bool,
    /// Seed of the machine (completion order).
    pub machine_seed: u64,
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "setup vols={} nbuf={} slots={} cluster={} verify={} wcache={} mseed={}",
            self.volumes,
            self.nbuf,
            self.slots,
            b(self.cluster),
            b(self.verify),
            b(self.write_cache),
            self.machine_seed
        )
    }
}

impl std::str::FromStr for Setup {
    type Err = String;

    fn from_str(line: &str) -> Result<Setup, String> {
        let bad = || format!("bad setup line: {line}");
        let mut s = Setup {
            volumes: 1,
            nbuf: 512,
            slots: 4,
            cluster: true,
            verify: true,
            write_cache: true,
            machine_seed: 0,
        };
        let mut it = line.split_whitespace();
        if it.next() != Some("setup") {
            return Err(bad());
        }
        for kv in it {
            let (k, v) = kv.split_once('=').ok_or_else(bad)?;
            let num: u64 = v.parse().map_err(|_| bad())?;
            match k {
                "vols" => s.volumes = num as u8,
                "nbuf" => s.nbuf = num as u16,
                "slots" => s.slots = num as u8,
                "cluster" => s.cluster = num != 0,
                "verify" => s.verify = num != 0,
                "wcache" => s.write_cache = num != 0,
                "mseed" => s.machine_seed = num,
                _ => return Err(bad()),
            }
        }
        Ok(s)
    }
}

/// A scenario: setup plus operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub seed: u64,
    pub setup: Setup,
    pub ops: Vec<Op>,
}

impl Scenario {
    /// The text form: a `seed` line, the setup line, one op per line.
    pub fn to_text(&self) -> String {
        let mut s = format!("seed {}\n{}\n", self.seed, self.setup);
        for op in &self.ops {
            s.push_str(&op.to_string());
            s.push('\n');
        }
        s
    }

    /// Parses [`Scenario::to_text`] output (blank lines and `#` comments
    /// are ignored).
    pub fn from_text(text: &str) -> Result<Scenario, String> {
        let mut seed = 0;
        let mut setup = None;
        let mut ops = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(v) = line.strip_prefix("seed ") {
                seed = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad seed line: {line}"))?;
            } else if line.starts_with("setup") {
                setup = Some(line.parse()?);
            } else {
                ops.push(line.parse()?);
            }
        }
        Ok(Scenario {
            seed,
            setup: setup.ok_or("scenario without a setup line")?,
            ops,
        })
    }
}

/// splitmix64, the scenario generator's PRNG.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5851_f42d_4c95_7f2d)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

/// Number of inodes a scenario uses for front-end I/O.
pub const INODES: u8 = 2;
/// File blocks per inode.
pub const FBLKS: u8 = 4;

/// What the generator knows of the workload's holdings; it is the same
/// model the executor checks legality with (see `exec`).
#[derive(Clone, Debug, Default)]
pub struct Holdings {
    /// Buffer references the workload holds, per slot.
    pub bufs: std::collections::BTreeMap<Slot, u32>,
    /// Volume references the workload holds, per volume.
    pub vols: std::collections::BTreeMap<u8, u32>,
}

impl Holdings {
    pub fn held(&self, s: Slot) -> u32 {
        self.bufs.get(&s).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u32 {
        self.bufs.values().sum()
    }
}

/// Generates the scenario of `seed` with `len` operations.
pub fn generate(seed: u64, len: usize) -> Scenario {
    let mut r = Rng::new(seed);
    let volumes = if r.chance(300) { 2 } else { 1 };
    let nbuf = *r.pick(&[24u16, 40, 64, 512, 512]);
    let slots = if nbuf <= 24 { 3 } else { *r.pick(&[3u8, 4, 6]) };
    let setup = Setup {
        volumes,
        nbuf,
        slots,
        cluster: r.chance(700),
        verify: r.chance(800),
        write_cache: r.chance(700),
        machine_seed: r.next_u64(),
    };
    let mut h = Holdings::default();
    let mut ops = Vec::with_capacity(len);
    // At most this many references held at once, so that modified
    // meta-data buffers (which the kernel cannot write) plus held ones
    // never exhaust the buffer cache (that would be a hang, not a bug).
    let max_held: u32 = if nbuf <= 24 { 3 } else { 6 };
    let zones = [Z::Btree, Z::Meta, Z::Large, Z::Small, Z::Undo];
    // Error injection is rarer than everything else, and in some seeds
    // absent, so that most scenarios get to flush and tear down cleanly.
    let faults_on = r.chance(350);
    while ops.len() < len {
        let any_slot = |r: &mut Rng| -> Slot {
            let zone = *r.pick(&zones);
            let vol = if volumes > 1 && matches!(zone, Z::Large | Z::Small) {
                r.below(2) as u8
            } else {
                0
            };
            Slot {
                zone,
                vol,
                idx: r.below(slots as u64) as u8,
            }
        };
        let held_slot = |r: &mut Rng, h: &Holdings| -> Option<Slot> {
            let v: Vec<Slot> = h.bufs.keys().copied().collect();
            if v.is_empty() {
                None
            } else {
                Some(*r.pick(&v))
            }
        };
        let data_slot = |r: &mut Rng, zone: Z| -> Slot {
            let vol = if volumes > 1 { r.below(2) as u8 } else { 0 };
            // Front-end data uses indexes past the workload's own buffers
            // half of the time, so both aliasing and clean cases occur.
            let idx = if r.chance(500) {
                r.below(slots as u64)
            } else {
                slots as u64 + r.below(2)
            } as u8;
            Slot { zone, vol, idx }
        };
        let w = r.below(1000);
        let op = match w {
            0..=149 => {
                if h.total() >= max_held {
                    continue;
                }
                let s = any_slot(&mut r);
                if s.zone != Z::Undo && r.chance(250) {
                    Op::Bnew(s)
                } else {
                    Op::Bread(s)
                }
            }
            150..=279 => match held_slot(&mut r, &h) {
                Some(s) if h.held(s) == 1 && r.chance(250) => Op::RelFlush(s),
                Some(s) => Op::Rel(s),
                None => continue,
            },
            280..=449 => match held_slot(&mut r, &h) {
                Some(s) if s.zone != Z::Undo => {
                    let len = *r.pick(&[1u16, 8, 64, 512, 4096]);
                    let at = r.below((16384 - len as u64) / 8) as u16 * 8;
                    Op::Modify {
                        slot: s,
                        at,
                        len,
                        byte: r.next_u64() as u8,
                        undo: r.chance(500),
                    }
                }
                _ => continue,
            },
            450..=479 => {
                let vol = if volumes > 1 { r.below(2) as u8 } else { 0 };
                if h.vols.get(&vol).copied().unwrap_or(0) == 0 {
                    Op::GetVol(vol)
                } else if r.chance(500) {
                    let len = *r.pick(&[4u16, 32, 256]);
                    // The tail of the header buffer, past the on-disk
                    // structure: modifiable without changing the layout
                    // the I/O layer reads (vol_buf_beg...).
                    let at = 12288 + r.below((4096 - len as u64) / 4) as u16 * 4;
                    Op::ModifyVol {
                        vol,
                        at,
                        len,
                        byte: r.next_u64() as u8,
                        undo: r.chance(500),
                    }
                } else {
                    Op::RelVol(vol)
                }
            }
            480..=529 => Op::Node {
                idx: r.below(slots as u64 * 2) as u8,
                at: 64 + r.below(64) as u16 * 8,
                byte: r.next_u64() as u8,
                undo: r.chance(600),
            },
            530..=579 => Op::Flush {
                final_: r.chance(700),
            },
            580..=594 => Op::WaitAll {
                doflush: r.chance(500),
            },
            595..=604 => Op::FlushSync,
            605..=614 => Op::LimitBacklog,
            615..=684 => Op::IoOne,
            685..=714 => Op::IoAll,
            715..=739 => Op::BufDaemon,
            740..=764 => Op::Recycle(1 + r.below(8) as u8),
            765..=779 => Op::Syncer,
            780..=786 => Op::VmShortage(r.chance(500)),
            787..=836 => {
                let zone = if r.chance(750) { Z::Large } else { Z::Small };
                Op::DirectWrite {
                    ino: r.below(INODES as u64) as u8,
                    fblk: r.below(FBLKS as u64) as u8,
                    slot: data_slot(&mut r, zone),
                    byte: r.next_u64() as u8,
                }
            }
            837..=861 => Op::DirectRead {
                ino: r.below(INODES as u64) as u8,
                fblk: r.below(FBLKS as u64) as u8,
                slot: data_slot(&mut r, Z::Large),
                leaf: r.chance(500),
            },
            862..=886 => Op::IndirectRead {
                ino: r.below(INODES as u64) as u8,
                fblk: r.below(FBLKS as u64) as u8,
                slot: data_slot(&mut r, Z::Large),
                leaf: r.chance(600),
                crc_ok: r.chance(700),
            },
            887..=906 => Op::Commit(r.below(INODES as u64) as u8),
            907..=921 => Op::Uncache {
                ino: r.below(INODES as u64) as u8,
                fblk: r.below(FBLKS as u64) as u8,
                slot: data_slot(&mut r, Z::Large),
            },
            922..=941 => {
                let zone = *r.pick(&[Z::Large, Z::Small, Z::Meta]);
                Op::DelBuffers(data_slot(&mut r, zone))
            }
            942..=951 => match held_slot(&mut r, &h) {
                Some(s) => Op::ClearError(s),
                None => continue,
            },
            952..=961 => match held_slot(&mut r, &h) {
                Some(s) => Op::NotMeta(s),
                None => continue,
            },
            962..=984 => {
                if !faults_on {
                    continue;
                }
                let kind = if r.chance(500) {
                    FaultKind::Read
                } else {
                    FaultKind::Write
                };
                if r.chance(500) {
                    Op::Fault {
                        kind,
                        vol: if volumes > 1 { r.below(2) as u8 } else { 0 },
                        n: 1 + r.below(2) as u8,
                    }
                } else {
                    Op::FaultAt {
                        kind,
                        slot: any_slot(&mut r),
                    }
                }
            }
            _ => {
                if !faults_on {
                    continue;
                }
                Op::ClearFaults
            }
        };
        track(&mut h, &op);
        ops.push(op);
    }
    Scenario { seed, setup, ops }
}

/// Updates the holdings for an operation that was (or will be) executed.
pub fn track(h: &mut Holdings, op: &Op) {
    match op {
        Op::Bread(s) | Op::Bnew(s) => *h.bufs.entry(*s).or_insert(0) += 1,
        Op::Rel(s) | Op::RelFlush(s) => {
            if let Some(c) = h.bufs.get_mut(s) {
                *c -= 1;
                if *c == 0 {
                    h.bufs.remove(s);
                }
            }
        }
        Op::GetVol(v) => *h.vols.entry(*v).or_insert(0) += 1,
        Op::RelVol(v) => {
            if let Some(c) = h.vols.get_mut(v) {
                *c -= 1;
                if *c == 0 {
                    h.vols.remove(v);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip() {
        for seed in 0..50 {
            let sc = generate(seed, 300);
            let back = Scenario::from_text(&sc.to_text()).unwrap();
            assert_eq!(sc, back);
        }
    }
}
