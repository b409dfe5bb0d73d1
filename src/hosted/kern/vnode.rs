//! Vnodes: device vnodes (one per [`super::Device`]) and plain vnodes (e.g.
//! HAMMER file vnodes, whose buffers the direct-I/O paths use). Each has a
//! buffer hash keyed by offset, clean/dirty trees, a VM object and, for
//! device vnodes, the device its strategy routine talks to.

use std::format;
use std::prelude::rust_2021::*;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::sync::Arc;
use std::time::Instant;

use crate::sys::ffi;

use super::bp::Vp;
use super::device::DevInner;
use super::machine::{lock, Kern};
use super::misc::kpanic;
use super::trace;
use super::vm::VmObject;

/// A strategy routine for a non-device vnode: gets the bio handed to
/// vn_strategy() and must eventually biodone() it.
pub type StrategyFn = Arc<dyn Fn(*mut ffi::bio) + Send + Sync>;
/// Called when vput()/vrele() drops the last reference.
pub type InactiveFn = Arc<dyn Fn(*mut ffi::vnode) + Send + Sync>;
/// VOP_BMAP for a non-device vnode: logical offset -> device offset
/// (NOOFFSET when unknown).
pub type BmapFn = Arc<dyn Fn(i64) -> i64 + Send + Sync>;

pub(crate) struct VnRec {
    pub vp: Vp,
    pub name: String,
    /// Keeps the token description string alive.
    _desc: CString,
    pub dev: Option<Arc<DevInner>>,
    pub strategy: Option<StrategyFn>,
    pub inactive: Option<InactiveFn>,
    pub bmap: Option<BmapFn>,
    /// v_rbhash_tree: loffset -> buffer index.
    pub hash: BTreeMap<i64, usize>,
    pub dirty: BTreeSet<i64>,
    pub clean: BTreeSet<i64>,
    pub vm: VmObject,
    /// On the syncer worklist since (VONWORKLST).
    pub worklist: Option<Instant>,
    pub lazyw: i64,
}

/// Allocate a vnode in the machine. `dev` makes it a device vnode.
pub(crate) fn new_vnode_locked(
    g: &mut Kern,
    name: &str,
    dev: Option<Arc<DevInner>>,
    size: u64,
) -> *mut ffi::vnode {
    let id = g.vnodes.len();
    let desc = CString::new(format!("vnode:{name}")).unwrap_or_default();
    let mut v = ffi::vnode {
        v_refcnt: 1,
        v_hosted: id as *mut core::ffi::c_void,
        v_filesize: size as i64,
        ..Default::default()
    };
    v.v_token.t_desc = desc.as_ptr();
    let vp = Box::into_raw(Box::new(v));
    g.vnodes.push(Some(VnRec {
        vp: Vp(vp),
        name: name.to_string(),
        _desc: desc,
        dev,
        strategy: None,
        inactive: None,
        bmap: None,
        hash: BTreeMap::new(),
        dirty: BTreeSet::new(),
        clean: BTreeSet::new(),
        vm: VmObject::new(name, size),
        worklist: None,
        lazyw: 0,
    }));
    trace::register_vnode(vp as usize, id as u32);
    vp
}

pub(crate) fn free_vnodes(g: &mut Kern) {
    for v in g.vnodes.drain(..).flatten() {
        // SAFETY: allocated by new_vnode_locked with Box::into_raw, freed
        // once here after every buffer has been released.
        drop(unsafe { Box::from_raw(v.vp.0) });
    }
}

/// The vnode id of `vp`, checking it belongs to this machine.
pub(crate) fn vn_id(g: &Kern, vp: *mut ffi::vnode) -> usize {
    if vp.is_null() {
        kpanic("NULL vnode passed to the buffer cache".to_string());
    }
    let id = Vp(vp).hosted();
    match g.vnodes.get(id) {
        Some(Some(r)) if r.vp.0 == vp => id,
        _ => kpanic(format!("vnode {vp:p} is not a vnode of the hosted machine")),
    }
}

pub(crate) fn rec(g: &Kern, id: usize) -> &VnRec {
    g.vnodes[id].as_ref().expect("vnode record")
}

pub(crate) fn rec_mut(g: &mut Kern, id: usize) -> &mut VnRec {
    g.vnodes[id].as_mut().expect("vnode record")
}

/// vn_syncer_add(): put the vnode on the syncer worklist.
pub(crate) fn syncer_add(g: &mut Kern, id: usize) {
    let r = rec_mut(g, id);
    if r.worklist.is_none() {
        r.worklist = Some(Instant::now());
    }
}

/// vn_syncer_remove().
pub(crate) fn syncer_remove(g: &mut Kern, id: usize) {
    rec_mut(g, id).worklist = None;
}

/// A plain (non-device) vnode with a VM object of `size` bytes. Buffers
/// can be created on it with getblk(); vn_strategy() on it calls the
/// strategy routine set with [`set_strategy`].
pub fn vnode_new(name: &str, size: u64) -> *mut ffi::vnode {
    let mut g = lock();
    new_vnode_locked(&mut g, name, None, size)
}

/// Set the strategy routine of a plain vnode.
pub fn set_strategy(vp: *mut ffi::vnode, f: StrategyFn) {
    let mut g = lock();
    let id = vn_id(&g, vp);
    rec_mut(&mut g, id).strategy = Some(f);
}

/// Set the hook run when the last reference goes away.
pub fn set_inactive(vp: *mut ffi::vnode, f: InactiveFn) {
    let mut g = lock();
    let id = vn_id(&g, vp);
    rec_mut(&mut g, id).inactive = Some(f);
}

/// Set VOP_BMAP for a plain vnode (device vnodes map 1:1).
pub fn set_bmap(vp: *mut ffi::vnode, f: BmapFn) {
    let mut g = lock();
    let id = vn_id(&g, vp);
    rec_mut(&mut g, id).bmap = Some(f);
}

/// The stable id of a vnode (the one trace events and snapshots use).
pub fn vnode_id(vp: *mut ffi::vnode) -> u32 {
    let g = lock();
    vn_id(&g, vp) as u32
}

/// VOP_BMAP: device offset of logical offset `loff` on vnode `id`.
pub(crate) fn bmap(g: &Kern, id: usize, loff: i64) -> Option<BmapFn> {
    let r = rec(g, id);
    if r.dev.is_some() {
        return None;
    }
    let _ = loff;
    r.bmap.clone()
}

fn drop_ref(vp: *mut ffi::vnode, what: &str) {
    let hook = {
        let g = lock();
        let id = vn_id(&g, vp);
        let v = Vp(vp);
        let n = v.refcnt();
        if n <= 0 {
            drop(g);
            kpanic(format!("{what}: vnode {vp:p} has no references"));
        }
        v.set_refcnt(n - 1);
        if n == 1 {
            rec(&g, id).inactive.clone()
        } else {
            None
        }
    };
    if let Some(h) = hook {
        h(vp);
    }
}

/// vput(): unlock and release a vnode reference.
///
/// # Safety
/// `vp` must be a vnode of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn vput(vp: *mut ffi::vnode) {
    trace::vnode_call("vput", vp);
    drop_ref(vp, "vput");
}

/// vrele(): release a vnode reference.
///
/// # Safety
/// `vp` must be a vnode of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn vrele(vp: *mut ffi::vnode) {
    trace::vnode_call("vrele", vp);
    drop_ref(vp, "vrele");
}

/// vref(): add a vnode reference.
///
/// # Safety
/// `vp` must be a vnode of this machine.
#[no_mangle]
pub unsafe extern "C-unwind" fn vref(vp: *mut ffi::vnode) {
    trace::vnode_call("vref", vp);
    let g = lock();
    let _ = vn_id(&g, vp);
    let v = Vp(vp);
    v.set_refcnt(v.refcnt() + 1);
}

/// Drop every cached VM page of the vnode that no buffer holds (what
/// memory pressure would eventually do). Returns the number of pages.
pub fn vm_evict(vp: *mut ffi::vnode) -> usize {
    let mut g = lock();
    let id = vn_id(&g, vp);
    rec_mut(&mut g, id).vm.evict_unwired()
}

/// Whether [off, off+len) of the vnode's VM object is valid.
pub fn vm_valid(vp: *mut ffi::vnode, off: i64, len: i64) -> bool {
    let g = lock();
    let id = vn_id(&g, vp);
    rec(&g, id).vm.is_valid(off, len)
}

/// The name a vnode was created with.
pub fn vnode_name(vp: *mut ffi::vnode) -> String {
    let g = lock();
    let id = vn_id(&g, vp);
    rec(&g, id).name.clone()
}

/// Whether the vnode is on the syncer worklist.
pub fn on_syncer_worklist(vp: *mut ffi::vnode) -> bool {
    let g = lock();
    let id = vn_id(&g, vp);
    rec(&g, id).worklist.is_some()
}
