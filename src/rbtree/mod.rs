//! Intrusive red-black trees that are binary-compatible with DragonFly's
//! `<sys/tree.h>` (`RB_HEAD` / `RB_ENTRY` / `RB_GENERATE`).
//!
//! HAMMER keeps its structures in trees whose heads and links are plain C
//! structs shared with the rest of the kernel, and other C code walks the
//! very same trees with the macro-generated functions. So this module does
//! not own any memory: it works on raw node and head pointers, through an
//! [`RbAdapter`] that says where a node's four link fields are, where a
//! head's root and scan list are, how two nodes compare and how the scan
//! list is locked.
//!
//! Every operation performs the same pointer writes, in the same order, as
//! the C generator of the reference tree, so a tree modified alternately
//! from C and from Rust stays a valid tree and has the same shape either
//! way (the differential tests check this node for node). Like the C
//! version, nothing here takes a lock on the tree itself; callers serialise
//! modifications. The only internal lock is the one that protects the list
//! of running scans.
//!
//! Layout reminder (both are `#[repr(C)]`-equivalent C structs):
//! - entry: `{ left, right, parent: *mut Node, color: c_int }`;
//! - head: `{ root: *mut Node, inprog: *mut ScanInfo, spin: struct spinlock }`.
//!
//! To describe a bindgen-generated tree, use [`rb_adapter!`](crate::rb_adapter).

pub mod hammer_mod;

use core::ffi::{c_int, c_void};
use core::marker::PhantomData;
use core::ptr;

/// Colour of a black node (`RB_BLACK`).
pub const RB_BLACK: c_int = 0;
/// Colour of a red node (`RB_RED`).
pub const RB_RED: c_int = 1;
/// `RB_MINMAX` direction selecting the smallest element (`RB_NEGINF`).
pub const RB_NEGINF: c_int = -1;
/// `RB_MINMAX` direction selecting the largest element (`RB_INF`).
pub const RB_INF: c_int = 1;

/// Addresses of the four fields of one node's `RB_ENTRY`.
///
/// Working with field addresses rather than with a Rust mirror of the
/// entry struct lets an adapter wrap whatever anonymous struct type bindgen
/// produced for the entry, without any layout cast.
pub struct Link<N> {
    /// `rbe_left`
    pub left: *mut *mut N,
    /// `rbe_right`
    pub right: *mut *mut N,
    /// `rbe_parent`
    pub parent: *mut *mut N,
    /// `rbe_color`
    pub color: *mut c_int,
}

impl<N> Clone for Link<N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N> Copy for Link<N> {}

/// One running scan, as `RB_SCAN_INFO(name, type)` lays it out.
///
/// A scan keeps the element it will visit next in `node`; removing that
/// element from the tree moves `node` on to the successor, which is how a
/// scan callback may delete anything, including the element it was given.
#[repr(C)]
pub struct ScanInfo<N> {
    /// Next scan registered on the same head.
    pub link: *mut ScanInfo<N>,
    /// Element the scan visits next (null: none).
    pub node: *mut N,
}

/// Addresses of a head's `rbh_root` and `rbh_inprog` fields.
pub struct HeadLinks<N> {
    /// `rbh_root`
    pub root: *mut *mut N,
    /// `rbh_inprog`, seen as a list of [`ScanInfo`].
    pub inprog: *mut *mut ScanInfo<N>,
}

impl<N> Clone for HeadLinks<N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N> Copy for HeadLinks<N> {}

/// Describes one kind of tree: its head and node types and how to reach
/// their fields.
///
/// # Safety
///
/// Implementors promise that, for any valid `node` / `head` pointer:
/// - [`link`](Self::link) returns the addresses of four distinct, properly
///   aligned fields inside `*node`, and [`head`](Self::head) the addresses
///   of two distinct fields inside `*head`, the scan list field having the
///   layout of a pointer to [`ScanInfo<Self::Node>`];
/// - neither reads nor writes anything;
/// - [`compare`](Self::compare) is a total order that stays the same while
///   a node is in a tree and does not modify any tree;
/// - [`scan_lock`](Self::scan_lock) / [`scan_unlock`](Self::scan_unlock)
///   give mutual exclusion for the head's scan list (they may be no-ops
///   where scans never run concurrently).
pub unsafe trait RbAdapter {
    /// The `RB_HEAD` struct.
    type Head;
    /// The node struct containing the `RB_ENTRY`.
    type Node;

    /// Field addresses of `node`'s entry.
    ///
    /// # Safety
    ///
    /// `node` points to a live `Self::Node`.
    unsafe fn link(node: *mut Self::Node) -> Link<Self::Node>;

    /// Field addresses of `head`.
    ///
    /// # Safety
    ///
    /// `head` points to a live `Self::Head`.
    unsafe fn head(head: *mut Self::Head) -> HeadLinks<Self::Node>;

    /// The tree's order: negative, zero or positive as `a` sorts before,
    /// with or after `b` (the `cmp` argument of `RB_GENERATE`).
    ///
    /// # Safety
    ///
    /// Both point to live nodes whose keys are initialised.
    unsafe fn compare(a: *mut Self::Node, b: *mut Self::Node) -> c_int;

    /// Takes the lock of `head`'s scan list (`RB_SCAN_LOCK`).
    ///
    /// # Safety
    ///
    /// `head` points to a live, initialised head.
    unsafe fn scan_lock(head: *mut Self::Head);

    /// Releases what [`scan_lock`](Self::scan_lock) took.
    ///
    /// # Safety
    ///
    /// `head` points to a live head whose scan lock the caller holds.
    unsafe fn scan_unlock(head: *mut Self::Head);
}

/// Implements [`RbAdapter`] for a head/node pair whose fields carry the
/// `<sys/tree.h>` names (`rbh_root`, `rbh_inprog`, and `rbe_left`,
/// `rbe_right`, `rbe_parent`, `rbe_color` inside the named entry field),
/// which is what bindgen produces from `RB_HEAD` and `RB_ENTRY`.
///
/// ```ignore
/// unsafe fn vol_cmp(a: *mut ffi::hammer_volume, b: *mut ffi::hammer_volume) -> c_int {
///     // SAFETY: the adapter contract hands us two live volumes.
///     let (a, b) = unsafe { ((*a).vol_no, (*b).vol_no) };
///     a.cmp(&b) as c_int
/// }
/// rb_adapter! {
///     /// Volumes of a mount keyed by `vol_no`.
///     pub VolTree: ffi::hammer_vol_rb_tree => ffi::hammer_volume, entry rb_node,
///     compare = vol_cmp, lock = vol_lock, unlock = vol_unlock
/// }
/// // then: RbTree::<VolTree>::insert(head, vol), RbTree::<VolTree>::next(vol), ...
/// ```
///
/// `compare` is an `unsafe fn(*mut Node, *mut Node) -> c_int`; `lock` and
/// `unlock` are `unsafe fn(*mut Head)`; they get the guarantees listed
/// on the corresponding [`RbAdapter`] methods and the caller of the macro
/// vouches for the rest of the trait contract (in particular that the
/// head's `rbh_inprog` field is a pointer to a struct laid out like
/// [`ScanInfo`], as `RB_SCAN_INFO` makes it).
#[macro_export]
macro_rules! rb_adapter {
    (
        $(#[$meta:meta])*
        $vis:vis $name:ident: $head:ty => $node:ty, entry $field:ident,
        compare = $cmp:path, lock = $lock:path, unlock = $unlock:path $(,)?
    ) => {
        $(#[$meta])*
        $vis enum $name {}

        // SAFETY: the field projections below name distinct fields of the
        // head and of the entry; only their addresses are taken. The
        // invoker of the macro vouches for compare/lock/unlock and for the
        // scan-list layout (see the macro's documentation).
        unsafe impl $crate::rbtree::RbAdapter for $name {
            type Head = $head;
            type Node = $node;

            #[inline(always)]
            unsafe fn link(node: *mut $node) -> $crate::rbtree::Link<$node> {
                // SAFETY: `node` is live (method contract); addr_of_mut!
                // computes field addresses without creating references or
                // reading memory.
                unsafe {
                    $crate::rbtree::Link {
                        left: ::core::ptr::addr_of_mut!((*node).$field.rbe_left),
                        right: ::core::ptr::addr_of_mut!((*node).$field.rbe_right),
                        parent: ::core::ptr::addr_of_mut!((*node).$field.rbe_parent),
                        color: ::core::ptr::addr_of_mut!((*node).$field.rbe_color),
                    }
                }
            }

            #[inline(always)]
            unsafe fn head(head: *mut $head) -> $crate::rbtree::HeadLinks<$node> {
                // SAFETY: `head` is live (method contract); only field
                // addresses are computed. The scan-list field holds a
                // pointer to the RB_SCAN_INFO struct, whose layout matches
                // ScanInfo (vouched for by the invoker).
                unsafe {
                    $crate::rbtree::HeadLinks {
                        root: ::core::ptr::addr_of_mut!((*head).rbh_root),
                        inprog: ::core::ptr::addr_of_mut!((*head).rbh_inprog).cast(),
                    }
                }
            }

            #[inline(always)]
            unsafe fn compare(a: *mut $node, b: *mut $node) -> ::core::ffi::c_int {
                // SAFETY: forwarded under the same contract.
                unsafe { $cmp(a, b) }
            }

            #[inline(always)]
            unsafe fn scan_lock(head: *mut $head) {
                // SAFETY: forwarded under the same contract.
                unsafe { $lock(head) }
            }

            #[inline(always)]
            unsafe fn scan_unlock(head: *mut $head) {
                // SAFETY: forwarded under the same contract.
                unsafe { $unlock(head) }
            }
        }
    };
}

/// A scan's range predicate or callback, with the C signature of the
/// `RB_SCAN` arguments (bindgen spells the nullable pointer as `Option`).
pub type ScanFn<N> = Option<c_fn!(fn(*mut N, *mut c_void) -> c_int)>;

/// The operations `RB_GENERATE` would emit for the tree described by `A`.
///
/// Never instantiated: it only namespaces the functions, e.g.
/// `RbTree::<MyAdapter>::insert(head, node)`.
///
/// Common safety contract of all functions below (called "the tree
/// contract" in their `# Safety` sections): `head`, when given, points to a
/// live head initialised by [`init`](Self::init) (or `RB_INIT`); every node
/// reachable from it, and every node passed in as being in the tree, is
/// live and linked only into that tree; and nothing else modifies the tree
/// or those nodes during the call, except as the function itself allows
/// (scan callbacks).
pub struct RbTree<A>(PhantomData<A>, core::convert::Infallible);

// Short accessors. Each is called only on nodes covered by the tree
// contract of the operation that uses it.
impl<A: RbAdapter> RbTree<A> {
    /// # Safety
    /// `n` is a live node.
    #[inline(always)]
    unsafe fn left(n: *mut A::Node) -> *mut A::Node {
        // SAFETY: `n` is live, so its entry fields are readable.
        unsafe { *A::link(n).left }
    }

    /// # Safety
    /// `n` is a live node.
    #[inline(always)]
    unsafe fn right(n: *mut A::Node) -> *mut A::Node {
        // SAFETY: as in `left`.
        unsafe { *A::link(n).right }
    }

    /// # Safety
    /// `n` is a live node.
    #[inline(always)]
    unsafe fn parent(n: *mut A::Node) -> *mut A::Node {
        // SAFETY: as in `left`.
        unsafe { *A::link(n).parent }
    }

    /// # Safety
    /// `n` is a live node.
    #[inline(always)]
    unsafe fn color(n: *mut A::Node) -> c_int {
        // SAFETY: as in `left`.
        unsafe { *A::link(n).color }
    }

    /// # Safety
    /// `n` is a live node that nothing else accesses concurrently.
    #[inline(always)]
    unsafe fn set_left(n: *mut A::Node, v: *mut A::Node) {
        // SAFETY: `n` is live and exclusively ours for the call.
        unsafe { *A::link(n).left = v }
    }

    /// # Safety
    /// As for `set_left`.
    #[inline(always)]
    unsafe fn set_right(n: *mut A::Node, v: *mut A::Node) {
        // SAFETY: as in `set_left`.
        unsafe { *A::link(n).right = v }
    }

    /// # Safety
    /// As for `set_left`.
    #[inline(always)]
    unsafe fn set_parent(n: *mut A::Node, v: *mut A::Node) {
        // SAFETY: as in `set_left`.
        unsafe { *A::link(n).parent = v }
    }

    /// # Safety
    /// As for `set_left`.
    #[inline(always)]
    unsafe fn set_color(n: *mut A::Node, c: c_int) {
        // SAFETY: as in `set_left`.
        unsafe { *A::link(n).color = c }
    }

    /// # Safety
    /// `head` is a live head.
    #[inline(always)]
    unsafe fn set_root(head: *mut A::Head, v: *mut A::Node) {
        // SAFETY: `head` is live and callers serialise modifications.
        unsafe { *A::head(head).root = v }
    }

    /// `RB_SET_BLACKRED`.
    ///
    /// # Safety
    /// As for `set_left`, for both nodes.
    #[inline(always)]
    unsafe fn set_blackred(black: *mut A::Node, red: *mut A::Node) {
        // SAFETY: both nodes are live and ours (caller contract).
        unsafe {
            Self::set_color(black, RB_BLACK);
            Self::set_color(red, RB_RED);
        }
    }

    /// Whether `n` is a non-null red node (`n && COLOR(n) == RB_RED`).
    ///
    /// # Safety
    /// `n` is null or a live node.
    #[inline(always)]
    unsafe fn is_red(n: *mut A::Node) -> bool {
        // SAFETY: only dereferenced when non-null, then live by contract.
        !n.is_null() && unsafe { Self::color(n) } == RB_RED
    }

    /// `RB_ROTATE_LEFT`: `elm`'s right child takes its place; returns it.
    ///
    /// # Safety
    /// Tree contract; `elm` is in the tree and has a right child.
    unsafe fn rotate_left(head: *mut A::Head, elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: every node touched is `elm`, one of its neighbours or
        // null-checked, all in the tree (caller contract).
        unsafe {
            let tmp = Self::right(elm);
            Self::set_right(elm, Self::left(tmp));
            if !Self::right(elm).is_null() {
                Self::set_parent(Self::right(elm), elm);
            }
            Self::set_parent(tmp, Self::parent(elm));
            let up = Self::parent(tmp);
            if up.is_null() {
                Self::set_root(head, tmp);
            } else if Self::left(up) == elm {
                Self::set_left(up, tmp);
            } else {
                Self::set_right(up, tmp);
            }
            Self::set_left(tmp, elm);
            Self::set_parent(elm, tmp);
            tmp
        }
    }

    /// `RB_ROTATE_RIGHT`: mirror of [`rotate_left`](Self::rotate_left).
    ///
    /// # Safety
    /// Tree contract; `elm` is in the tree and has a left child.
    unsafe fn rotate_right(head: *mut A::Head, elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: as in `rotate_left`.
        unsafe {
            let tmp = Self::left(elm);
            Self::set_left(elm, Self::right(tmp));
            if !Self::left(elm).is_null() {
                Self::set_parent(Self::left(elm), elm);
            }
            Self::set_parent(tmp, Self::parent(elm));
            let up = Self::parent(tmp);
            if up.is_null() {
                Self::set_root(head, tmp);
            } else if Self::left(up) == elm {
                Self::set_left(up, tmp);
            } else {
                Self::set_right(up, tmp);
            }
            Self::set_right(tmp, elm);
            Self::set_parent(elm, tmp);
            tmp
        }
    }

    /// `RB_INIT`: empties the head. Like the C macro it leaves the spinlock
    /// alone (it is initialised with the structure that embeds the head).
    ///
    /// # Safety
    /// `head` points to a live head no scan is running on.
    pub unsafe fn init(head: *mut A::Head) {
        // SAFETY: `head` is live (caller contract).
        unsafe {
            let h = A::head(head);
            *h.root = ptr::null_mut();
            *h.inprog = ptr::null_mut();
        }
    }

    /// `RB_ROOT`.
    ///
    /// # Safety
    /// `head` points to a live head.
    pub unsafe fn root(head: *mut A::Head) -> *mut A::Node {
        // SAFETY: `head` is live (caller contract).
        unsafe { *A::head(head).root }
    }

    /// `RB_EMPTY`.
    ///
    /// # Safety
    /// `head` points to a live head.
    pub unsafe fn is_empty(head: *mut A::Head) -> bool {
        // SAFETY: same contract.
        unsafe { Self::root(head) }.is_null()
    }

    /// `name_RB_INSERT_COLOR`: rebalances after `elm` was linked in as a
    /// red leaf.
    ///
    /// # Safety
    /// Tree contract; `elm` is in the tree.
    pub unsafe fn insert_color(head: *mut A::Head, mut elm: *mut A::Node) {
        // SAFETY: the walk only visits `elm`, its ancestors and their
        // children, all in the tree (caller contract); a red parent is
        // never the root, so `gparent` is non-null.
        unsafe {
            loop {
                let mut parent = Self::parent(elm);
                if parent.is_null() || Self::color(parent) != RB_RED {
                    break;
                }
                let gparent = Self::parent(parent);
                if parent == Self::left(gparent) {
                    let uncle = Self::right(gparent);
                    if Self::is_red(uncle) {
                        Self::set_color(uncle, RB_BLACK);
                        Self::set_blackred(parent, gparent);
                        elm = gparent;
                        continue;
                    }
                    if Self::right(parent) == elm {
                        Self::rotate_left(head, parent);
                        core::mem::swap(&mut parent, &mut elm);
                    }
                    Self::set_blackred(parent, gparent);
                    Self::rotate_right(head, gparent);
                } else {
                    let uncle = Self::left(gparent);
                    if Self::is_red(uncle) {
                        Self::set_color(uncle, RB_BLACK);
                        Self::set_blackred(parent, gparent);
                        elm = gparent;
                        continue;
                    }
                    if Self::left(parent) == elm {
                        Self::rotate_right(head, parent);
                        core::mem::swap(&mut parent, &mut elm);
                    }
                    Self::set_blackred(parent, gparent);
                    Self::rotate_left(head, gparent);
                }
            }
            Self::set_color(Self::root(head), RB_BLACK);
        }
    }

    /// `name_RB_REMOVE_COLOR`: repairs the missing black on the `elm` side
    /// of `parent` (`elm` may be null) after a black node was unlinked.
    ///
    /// # Safety
    /// Tree contract; `parent` is in the tree (or null with `elm` the
    /// root) and `elm` is null or in the tree, as `remove` leaves them.
    pub unsafe fn remove_color(
        head: *mut A::Head,
        mut parent: *mut A::Node,
        mut elm: *mut A::Node,
    ) {
        // SAFETY: while the loop runs `elm` is not the root, so `parent`
        // is a tree node; a black-height deficit guarantees the sibling
        // exists. Every other node touched is a null-checked child.
        unsafe {
            while (elm.is_null() || Self::color(elm) == RB_BLACK) && elm != Self::root(head) {
                if Self::left(parent) == elm {
                    let mut sib = Self::right(parent);
                    if Self::color(sib) == RB_RED {
                        Self::set_blackred(sib, parent);
                        Self::rotate_left(head, parent);
                        sib = Self::right(parent);
                    }
                    if !Self::is_red(Self::left(sib)) && !Self::is_red(Self::right(sib)) {
                        Self::set_color(sib, RB_RED);
                        elm = parent;
                        parent = Self::parent(elm);
                        continue;
                    }
                    if !Self::is_red(Self::right(sib)) {
                        let oleft = Self::left(sib);
                        if !oleft.is_null() {
                            Self::set_color(oleft, RB_BLACK);
                        }
                        Self::set_color(sib, RB_RED);
                        Self::rotate_right(head, sib);
                        sib = Self::right(parent);
                    }
                    Self::set_color(sib, Self::color(parent));
                    Self::set_color(parent, RB_BLACK);
                    if !Self::right(sib).is_null() {
                        Self::set_color(Self::right(sib), RB_BLACK);
                    }
                    Self::rotate_left(head, parent);
                    elm = Self::root(head);
                    break;
                } else {
                    let mut sib = Self::left(parent);
                    if Self::color(sib) == RB_RED {
                        Self::set_blackred(sib, parent);
                        Self::rotate_right(head, parent);
                        sib = Self::left(parent);
                    }
                    if !Self::is_red(Self::left(sib)) && !Self::is_red(Self::right(sib)) {
                        Self::set_color(sib, RB_RED);
                        elm = parent;
                        parent = Self::parent(elm);
                        continue;
                    }
                    if !Self::is_red(Self::left(sib)) {
                        let oright = Self::right(sib);
                        if !oright.is_null() {
                            Self::set_color(oright, RB_BLACK);
                        }
                        Self::set_color(sib, RB_RED);
                        Self::rotate_left(head, sib);
                        sib = Self::left(parent);
                    }
                    Self::set_color(sib, Self::color(parent));
                    Self::set_color(parent, RB_BLACK);
                    if !Self::left(sib).is_null() {
                        Self::set_color(Self::left(sib), RB_BLACK);
                    }
                    Self::rotate_right(head, parent);
                    elm = Self::root(head);
                    break;
                }
            }
            if !elm.is_null() {
                Self::set_color(elm, RB_BLACK);
            }
        }
    }

    /// `name_RB_REMOVE`: unlinks `elm` and returns it.
    ///
    /// Scans that were going to visit `elm` next move on to its successor.
    /// `elm`'s own link fields are left stale, as in C.
    ///
    /// # Safety
    /// Tree contract; `elm` is in the tree. Every [`ScanInfo`] on the
    /// head's list is live (true for scans run by this module or by C).
    pub unsafe fn remove(head: *mut A::Head, elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: the scan list is walked without the scan lock exactly as
        // the C version does: only the thread modifying the tree (whose
        // caller serialises modifications) rewrites `node` fields. All
        // nodes touched are `elm`, its neighbours or null-checked.
        unsafe {
            let mut scan = *A::head(head).inprog;
            while !scan.is_null() {
                if (*scan).node == elm {
                    (*scan).node = Self::next(elm);
                }
                scan = (*scan).link;
            }

            let old = elm;
            let child;
            let mut parent;
            let color;
            if !Self::left(old).is_null() && !Self::right(old).is_null() {
                // `old` has two children: its successor `succ` (leftmost of
                // the right subtree) is spliced out of its own place and
                // then takes over `old`'s links and colour.
                let mut succ = Self::right(old);
                loop {
                    let l = Self::left(succ);
                    if l.is_null() {
                        break;
                    }
                    succ = l;
                }
                child = Self::right(succ);
                parent = Self::parent(succ);
                color = Self::color(succ);
                if !child.is_null() {
                    Self::set_parent(child, parent);
                }
                if parent.is_null() {
                    Self::set_root(head, child);
                } else if Self::left(parent) == succ {
                    Self::set_left(parent, child);
                } else {
                    Self::set_right(parent, child);
                }
                if Self::parent(succ) == old {
                    parent = succ;
                }
                // The entry struct copy `succ->field = old->field`.
                let (s, o) = (A::link(succ), A::link(old));
                *s.left = *o.left;
                *s.right = *o.right;
                *s.parent = *o.parent;
                *s.color = *o.color;
                let up = Self::parent(old);
                if up.is_null() {
                    Self::set_root(head, succ);
                } else if Self::left(up) == old {
                    Self::set_left(up, succ);
                } else {
                    Self::set_right(up, succ);
                }
                Self::set_parent(Self::left(old), succ);
                if !Self::right(old).is_null() {
                    Self::set_parent(Self::right(old), succ);
                }
            } else {
                child = if Self::left(old).is_null() {
                    Self::right(old)
                } else {
                    Self::left(old)
                };
                parent = Self::parent(old);
                color = Self::color(old);
                if !child.is_null() {
                    Self::set_parent(child, parent);
                }
                if parent.is_null() {
                    Self::set_root(head, child);
                } else if Self::left(parent) == old {
                    Self::set_left(parent, child);
                } else {
                    Self::set_right(parent, child);
                }
            }
            if color == RB_BLACK {
                Self::remove_color(head, parent, child);
            }
            old
        }
    }

    /// `name_RB_INSERT`: links `elm` in, or returns the element that
    /// compares equal to it (then `elm` is left untouched).
    ///
    /// # Safety
    /// Tree contract; `elm` is live, its key initialised and it is not in
    /// any tree.
    pub unsafe fn insert(head: *mut A::Head, elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: the descent only visits tree nodes; `elm` is live and
        // not shared with any tree (caller contract).
        unsafe {
            let mut parent = ptr::null_mut();
            let mut tmp = Self::root(head);
            let mut comp = 0;
            while !tmp.is_null() {
                parent = tmp;
                comp = A::compare(elm, parent);
                if comp < 0 {
                    tmp = Self::left(tmp);
                } else if comp > 0 {
                    tmp = Self::right(tmp);
                } else {
                    return tmp;
                }
            }
            Self::set_parent(elm, parent);
            Self::set_left(elm, ptr::null_mut());
            Self::set_right(elm, ptr::null_mut());
            Self::set_color(elm, RB_RED);
            if parent.is_null() {
                Self::set_root(head, elm);
            } else if comp < 0 {
                Self::set_left(parent, elm);
            } else {
                Self::set_right(parent, elm);
            }
            Self::insert_color(head, elm);
            ptr::null_mut()
        }
    }

    /// `name_RB_FIND`: the element that compares equal to `elm`, or null.
    ///
    /// # Safety
    /// Tree contract; `elm` is live with its key initialised (it need not
    /// be in a tree).
    pub unsafe fn find(head: *mut A::Head, elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: `elm` is only handed to `compare`; the descent only
        // visits tree nodes.
        unsafe { Self::lookup(head, |n| A::compare(elm, n)) }
    }

    /// Exact-match descent driven by `xcmp(node)`, which returns how the
    /// sought key compares to `node`'s key (negative: go left). This is
    /// the shape of `RB_LOOKUP` (from `RB_GENERATE2`) and of the
    /// `RB_GENERATE_XLOOKUP` functions.
    ///
    /// # Safety
    /// Tree contract; `xcmp` does not modify the tree.
    pub unsafe fn lookup<F>(head: *mut A::Head, mut xcmp: F) -> *mut A::Node
    where
        F: FnMut(*mut A::Node) -> c_int,
    {
        // SAFETY: only tree nodes are visited and `xcmp` leaves the tree
        // alone (caller contract).
        unsafe {
            let mut tmp = Self::root(head);
            while !tmp.is_null() {
                let comp = xcmp(tmp);
                if comp < 0 {
                    tmp = Self::left(tmp);
                } else if comp > 0 {
                    tmp = Self::right(tmp);
                } else {
                    break;
                }
            }
            tmp
        }
    }

    /// `name_RB_NEXT`: in-order successor of `elm`, or null.
    ///
    /// # Safety
    /// `elm` is in a tree satisfying the tree contract.
    pub unsafe fn next(mut elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: only `elm`'s subtree and ancestors are read, all in the
        // same tree (caller contract).
        unsafe {
            if !Self::right(elm).is_null() {
                elm = Self::right(elm);
                while !Self::left(elm).is_null() {
                    elm = Self::left(elm);
                }
                return elm;
            }
            while !Self::parent(elm).is_null() && Self::right(Self::parent(elm)) == elm {
                elm = Self::parent(elm);
            }
            Self::parent(elm)
        }
    }

    /// `name_RB_PREV`: in-order predecessor of `elm`, or null.
    ///
    /// # Safety
    /// `elm` is in a tree satisfying the tree contract.
    pub unsafe fn prev(mut elm: *mut A::Node) -> *mut A::Node {
        // SAFETY: as in `next`.
        unsafe {
            if !Self::left(elm).is_null() {
                elm = Self::left(elm);
                while !Self::right(elm).is_null() {
                    elm = Self::right(elm);
                }
                return elm;
            }
            while !Self::parent(elm).is_null() && Self::left(Self::parent(elm)) == elm {
                elm = Self::parent(elm);
            }
            Self::parent(elm)
        }
    }

    /// `name_RB_MINMAX`: the smallest element if `val < 0`, else the
    /// largest; null for an empty tree.
    ///
    /// # Safety
    /// Tree contract.
    pub unsafe fn minmax(head: *mut A::Head, val: c_int) -> *mut A::Node {
        // SAFETY: only tree nodes are visited.
        unsafe {
            let mut tmp = Self::root(head);
            let mut last = ptr::null_mut();
            while !tmp.is_null() {
                last = tmp;
                tmp = if val < 0 {
                    Self::left(tmp)
                } else {
                    Self::right(tmp)
                };
            }
            last
        }
    }

    /// `RB_MIN` / `RB_FIRST`.
    ///
    /// # Safety
    /// Tree contract.
    pub unsafe fn min(head: *mut A::Head) -> *mut A::Node {
        // SAFETY: same contract.
        unsafe { Self::minmax(head, RB_NEGINF) }
    }

    /// `RB_MAX`.
    ///
    /// # Safety
    /// Tree contract.
    pub unsafe fn max(head: *mut A::Head) -> *mut A::Node {
        // SAFETY: same contract.
        unsafe { Self::minmax(head, RB_INF) }
    }

    /// `name_RB_SCAN` with Rust closures.
    ///
    /// Calls `callback` on every element of the contiguous range where
    /// `scancmp` is 0 (it is negative below the range and positive above
    /// it), in ascending order. A negative callback result stops the scan
    /// and is returned; otherwise the (wrapping) sum of the results is.
    ///
    /// While it runs, the scan is registered on the head, so the callback
    /// (or anyone) may remove any element, including the one it was given,
    /// and the scan continues with the right successor. Elements inserted
    /// during the scan may or may not be visited, as in C.
    ///
    /// # Safety
    /// Tree contract, except that `callback` may insert and remove
    /// elements (respecting the tree contract itself); `scancmp` does not
    /// modify the tree. The head must stay live until the scan returns.
    pub unsafe fn scan_with<F, G>(head: *mut A::Head, mut scancmp: F, mut callback: G) -> c_int
    where
        F: FnMut(*mut A::Node) -> c_int,
        G: FnMut(*mut A::Node) -> c_int,
    {
        // SAFETY: the first descent only visits tree nodes. The scan record
        // lives on this stack frame and the guard unlinks it before the
        // frame goes away, even on unwinding; after linking, it is only
        // accessed through `info`, the same raw pointer `remove` reaches
        // it by. `best` is always a node in the tree when the callback is
        // called: either the first match, or the `node` that `remove` keeps
        // pointing at a live successor.
        unsafe {
            let mut best = ptr::null_mut();
            let mut tmp = Self::root(head);
            while !tmp.is_null() {
                let comp = scancmp(tmp);
                if comp < 0 {
                    tmp = Self::right(tmp);
                } else if comp > 0 {
                    tmp = Self::left(tmp);
                } else {
                    best = tmp;
                    tmp = Self::left(tmp);
                }
            }
            if best.is_null() {
                return 0;
            }

            let mut record = ScanInfo {
                link: ptr::null_mut(),
                node: Self::next(best),
            };
            let info: *mut ScanInfo<A::Node> = ptr::addr_of_mut!(record);
            let guard = ScanGuard::<A>::link(head, info);
            let mut count: c_int = 0;
            let mut comp;
            loop {
                comp = callback(best);
                if comp < 0 {
                    break;
                }
                count = count.wrapping_add(comp);
                best = (*info).node;
                if best.is_null() || scancmp(best) != 0 {
                    break;
                }
                (*info).node = Self::next(best);
            }
            drop(guard);
            if comp < 0 {
                comp
            } else {
                count
            }
        }
    }

    /// `name_RB_SCAN` with the C callback types; a null `scancmp` selects
    /// every element.
    ///
    /// # Panics
    /// If `callback` is null (C would jump to address 0).
    ///
    /// # Safety
    /// As for [`scan_with`](Self::scan_with); the functions are safe to
    /// call with any tree node and `data`.
    pub unsafe fn scan(
        head: *mut A::Head,
        scancmp: ScanFn<A::Node>,
        callback: ScanFn<A::Node>,
        data: *mut c_void,
    ) -> c_int {
        let callback = callback.expect("RB_SCAN without a callback");
        // SAFETY: the caller vouches for both functions; the rest of the
        // contract is forwarded.
        unsafe {
            match scancmp {
                Some(sc) => Self::scan_with(head, |n| sc(n, data), |n| callback(n, data)),
                None => Self::scan_with(head, |_| 0, |n| callback(n, data)),
            }
        }
    }
}

/// Keeps a scan registered on its head; unregisters it when dropped
/// (`scan_info_link` / `scan_info_done`).
struct ScanGuard<A: RbAdapter> {
    head: *mut A::Head,
    info: *mut ScanInfo<A::Node>,
}

impl<A: RbAdapter> ScanGuard<A> {
    /// Pushes `info` on the head's scan list.
    ///
    /// # Safety
    /// `head` is live and stays so until the guard is dropped; `info` is
    /// live, not on any list, and outlives the guard.
    unsafe fn link(head: *mut A::Head, info: *mut ScanInfo<A::Node>) -> Self {
        // SAFETY: the list is only modified under the scan lock, and both
        // pointers are live (caller contract).
        unsafe {
            A::scan_lock(head);
            let list = A::head(head).inprog;
            (*info).link = *list;
            *list = info;
            A::scan_unlock(head);
        }
        ScanGuard { head, info }
    }
}

impl<A: RbAdapter> Drop for ScanGuard<A> {
    fn drop(&mut self) {
        // SAFETY: `link` established that head and record are live until
        // now and that the record is on the list, which is only modified
        // under the scan lock; every other record on it is live too.
        unsafe {
            A::scan_lock(self.head);
            let mut slot = A::head(self.head).inprog;
            while *slot != self.info {
                slot = ptr::addr_of_mut!((**slot).link);
            }
            *slot = (*self.info).link;
            A::scan_unlock(self.head);
        }
    }
}
