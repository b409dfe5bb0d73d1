//! Call tracing with stable identities.
//!
//! When a sink is installed, every exported kernel entry point, every
//! callback the kernel makes into a filesystem (bioops, bio_done) and every
//! device operation produces an [`Event`]. Objects are named by stable
//! identities rather than addresses: buffers by (vnode id, offset, size),
//! vnodes by id, tokens and sleep channels by a name registered with
//! [`name_object`] or else by the order in which the trace first saw them.
//! Two runs that make the same calls in the same order therefore produce
//! identical traces, whatever the allocator did.
//!
//! The sink runs synchronously on the calling thread, sometimes with
//! environment-internal locks held: it must not call back into the
//! environment.

use std::prelude::rust_2021::*;
use std::vec;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::sys::ffi;

use super::bp::{BioP, Bp, Vp};
use super::machine::me_nolock;

/// Identity of a buffer: the vnode it is hashed on (0 for pbufs and
/// disassociated headers) and its logical offset and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufId {
    pub vnode: u32,
    pub offset: i64,
    pub size: i32,
}

/// Identity of a non-buffer object (token, sleep channel, vnode).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ObjId {
    /// Registered with [`name_object`].
    Named(String),
    /// A vnode, by id.
    Vnode(u32),
    /// Anything else, numbered in order of first appearance.
    Anon(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An exported kernel function was called.
    Call,
    /// ... and returned (only for calls whose result matters).
    Return,
    /// The kernel called into the filesystem (bioops entry, bio_done).
    Callback,
    /// The device carried out a request.
    Disk,
    /// Console output or a panic message.
    Text,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub seq: u64,
    /// Kernel thread id (registration order; see `current_thread_id`).
    pub thread: u32,
    pub func: &'static str,
    pub kind: Kind,
    pub buf: Option<BufId>,
    /// Index of the bio in b_bio_array, for bio-level calls.
    pub bio_layer: Option<u8>,
    pub obj: Option<ObjId>,
    pub args: Vec<i64>,
    /// b_flags of `buf` when the event was recorded.
    pub flags: Option<u32>,
    pub text: Option<String>,
}

pub type Sink = Arc<dyn Fn(&Event) + Send + Sync>;

static ON: AtomicBool = AtomicBool::new(false);
static SEQ: AtomicU64 = AtomicU64::new(0);
static SINK: RwLock<Option<Sink>> = RwLock::new(None);

struct Ids {
    names: HashMap<usize, String>,
    vnodes: HashMap<usize, u32>,
    anon: HashMap<usize, u32>,
}

static IDS: Mutex<Option<Ids>> = Mutex::new(None);

fn with_ids<R>(f: impl FnOnce(&mut Ids) -> R) -> R {
    let mut g = IDS.lock().unwrap_or_else(|e| e.into_inner());
    let ids = g.get_or_insert_with(|| Ids {
        names: HashMap::new(),
        vnodes: HashMap::new(),
        anon: HashMap::new(),
    });
    f(ids)
}

/// Install (or remove, with `None`) the trace sink.
pub fn set_sink(sink: Option<Sink>) {
    let on = sink.is_some();
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
    ON.store(on, Ordering::SeqCst);
}

/// Name the object at `ptr` (a token, a sleep channel) in trace events.
pub fn name_object(ptr: *const core::ffi::c_void, name: &str) {
    with_ids(|ids| {
        ids.names.insert(ptr as usize, name.to_string());
    });
}

/// A sink that stores events for later inspection.
#[derive(Clone, Default)]
pub struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Recorder {
    /// Create a recorder and install it as the sink.
    pub fn install() -> Recorder {
        let r = Recorder::default();
        let ev = r.events.clone();
        set_sink(Some(Arc::new(move |e: &Event| {
            ev.lock().unwrap_or_else(|e| e.into_inner()).push(e.clone());
        })));
        r
    }
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }
    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Drops every name given with [`name_object`]: the addresses they label
/// may hold other objects now. Names deliberately outlive a boot (tests
/// name objects before booting), so a harness that reuses addresses
/// across machines calls this once the new machine is up.
pub fn forget_all_names() {
    with_ids(|ids| ids.names.clear());
}

pub(crate) fn reset_ids() {
    with_ids(|ids| {
        ids.vnodes.clear();
        ids.anon.clear();
    });
    SEQ.store(0, Ordering::SeqCst);
}

pub(crate) fn register_vnode(addr: usize, id: u32) {
    with_ids(|ids| {
        ids.vnodes.insert(addr, id);
    });
}

fn obj_id(addr: usize) -> ObjId {
    with_ids(|ids| {
        if let Some(n) = ids.names.get(&addr) {
            return ObjId::Named(n.clone());
        }
        if let Some(&v) = ids.vnodes.get(&addr) {
            return ObjId::Vnode(v);
        }
        let next = ids.anon.len() as u32;
        ObjId::Anon(*ids.anon.entry(addr).or_insert(next))
    })
}

/// Identity of a buffer, read without locks.
pub(crate) fn buf_id(bp: Bp) -> BufId {
    let vp = bp.vp();
    let vnode = if vp.is_null() {
        0
    } else {
        Vp(vp).hosted() as u32
    };
    BufId {
        vnode,
        offset: bp.loffset(),
        size: bp.bcount(),
    }
}

std::thread_local! {
    /// Set while this thread is inside the sink, so primitives the sink
    /// itself uses (bcopy, atomics...) are not traced recursively.
    static IN_EMIT: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

fn emit(mut e: Event) {
    if IN_EMIT.with(|c| c.replace(true)) {
        return;
    }
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_EMIT.with(|c| c.set(false));
        }
    }
    let _r = Reset;
    let sink = SINK.read().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(s) = sink {
        e.seq = SEQ.fetch_add(1, Ordering::SeqCst);
        e.thread = me_nolock().1;
        s(&e);
    }
}

fn base(func: &'static str, kind: Kind) -> Event {
    Event {
        seq: 0,
        thread: 0,
        func,
        kind,
        buf: None,
        bio_layer: None,
        obj: None,
        args: Vec::new(),
        flags: None,
        text: None,
    }
}

#[inline]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

pub(crate) fn buf_event(func: &'static str, kind: Kind, bp: Bp, args: &[i64]) {
    if !on() || bp.0.is_null() {
        return;
    }
    let mut e = base(func, kind);
    e.buf = Some(buf_id(bp));
    e.flags = Some(bp.flags());
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn buf_call(func: &'static str, bp: Bp, args: &[i64]) {
    buf_event(func, Kind::Call, bp, args);
}

pub(crate) fn buf_call_locked<T>(_g: &T, func: &'static str, bp: Bp, args: &[i64]) {
    buf_event(func, Kind::Call, bp, args);
}

pub(crate) fn buf_ret(func: &'static str, bp: Bp, ret: i64) {
    buf_event(func, Kind::Return, bp, &[ret]);
}

pub(crate) fn callback(func: &'static str, bp: Bp, args: &[i64]) {
    buf_event(func, Kind::Callback, bp, args);
}

pub(crate) fn bio_event(func: &'static str, kind: Kind, bio: *mut ffi::bio, args: &[i64]) {
    if !on() || bio.is_null() {
        return;
    }
    let bp = Bp(BioP(bio).buf());
    let mut e = base(func, kind);
    if !bp.0.is_null() {
        e.buf = Some(buf_id(bp));
        e.flags = Some(bp.flags());
        e.bio_layer = bp.bio_index(bio).map(|i| i as u8);
    }
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn bio_call(func: &'static str, bio: *mut ffi::bio, args: &[i64]) {
    bio_event(func, Kind::Call, bio, args);
}

pub(crate) fn vnode_call(func: &'static str, vp: *mut ffi::vnode) {
    vnode_off_call(func, vp, &[]);
}

pub(crate) fn vnode_off_call(func: &'static str, vp: *mut ffi::vnode, args: &[i64]) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Call);
    e.obj = Some(obj_id(vp as usize));
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn vnode_ret(func: &'static str, vp: *mut ffi::vnode, bp: *mut ffi::buf) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Return);
    e.obj = Some(obj_id(vp as usize));
    if !bp.is_null() {
        let b = Bp(bp);
        e.buf = Some(buf_id(b));
        e.flags = Some(b.flags());
    }
    emit(e);
}

pub(crate) fn obj_call(func: &'static str, addr: usize) {
    obj_call_args(func, addr, &[]);
}

pub(crate) fn obj_call_args(func: &'static str, addr: usize, args: &[i64]) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Call);
    e.obj = Some(obj_id(addr));
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn obj_ret(func: &'static str, addr: usize, ret: i64) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Return);
    e.obj = Some(obj_id(addr));
    e.args = vec![ret];
    emit(e);
}

pub(crate) fn plain_call(func: &'static str, args: &[i64]) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Call);
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn disk_event(func: &'static str, dev_vnode: u32, args: &[i64]) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Disk);
    e.obj = Some(ObjId::Vnode(dev_vnode));
    e.args = args.to_vec();
    emit(e);
}

pub(crate) fn text_event(func: &'static str, text: &str) {
    if !on() {
        return;
    }
    let mut e = base(func, Kind::Text);
    e.text = Some(text.to_string());
    emit(e);
}

// ---------------------------------------------------------------------
// HAMMER neighbour entry points
// ---------------------------------------------------------------------

std::thread_local! {
    /// How many HAMMER neighbour entry points (hammer_ref, hammer_bread...)
    /// are active on this thread since it last entered filesystem I/O code
    /// (an hammer_io export or a bioops / bio_done callback). Only calls
    /// made directly by I/O code (depth 0) are traced: calls the
    /// neighbours make among themselves, and calls the test workload makes
    /// outside any I/O code (the depth starts at 1), are not what the
    /// implementations must agree on.
    static NEIGHBOUR_DEPTH: core::cell::Cell<u32> = const { core::cell::Cell::new(1) };
}

/// Marks a HAMMER neighbour entry point as active until dropped.
pub(crate) struct NeighbourGuard {
    /// Whether this is the outermost one (and tracing is on): its call
    /// and return are to be recorded.
    pub(crate) outer: bool,
}

impl Drop for NeighbourGuard {
    fn drop(&mut self) {
        NEIGHBOUR_DEPTH.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Enters a HAMMER neighbour entry point.
pub(crate) fn neighbour_enter() -> NeighbourGuard {
    let d = NEIGHBOUR_DEPTH.with(|c| c.replace(c.get() + 1));
    NeighbourGuard {
        outer: d == 0 && on(),
    }
}

/// Runs `f`, an entry into filesystem I/O code (an hammer_io export or a
/// kernel callback), with the neighbour nesting reset: the neighbour calls
/// it makes are traced even when a neighbour is further up the stack.
pub(crate) fn fs_entry<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            NEIGHBOUR_DEPTH.with(|c| c.set(self.0));
        }
    }
    let _r = Restore(NEIGHBOUR_DEPTH.with(|c| c.replace(0)));
    f()
}

/// An event of a HAMMER neighbour entry point: `obj` (0 for none) is an
/// object identified by name (locks), `args` plain values, `text`
/// identities the caller computed (ios, records) or strings.
pub(crate) fn neighbour_event(
    func: &'static str,
    kind: Kind,
    obj: usize,
    args: &[i64],
    text: Option<String>,
) {
    if !on() {
        return;
    }
    let mut e = base(func, kind);
    if obj != 0 {
        e.obj = Some(obj_id(obj));
    }
    e.args = args.to_vec();
    e.text = text;
    emit(e);
}
