//! `<sys/queue.h>` TAILQ operations over bindgen's head and entry structs
//! (`tqh_first`/`tqh_last`, `tqe_next`/`tqe_prev`), as macros because every
//! list has its own anonymous struct types.
//!
//! All of them must be used inside an `unsafe` block whose SAFETY comment
//! covers the list: the head and every element involved are live, and the
//! caller serialises access to the list.

/// `TAILQ_INIT(head)`
macro_rules! tailq_init {
    ($head:expr) => {{
        let h = $head;
        (*h).tqh_first = ::core::ptr::null_mut();
        (*h).tqh_last = ::core::ptr::addr_of_mut!((*h).tqh_first);
    }};
}

/// `TAILQ_EMPTY(head)`
macro_rules! tailq_empty {
    ($head:expr) => {
        (*$head).tqh_first.is_null()
    };
}

/// `TAILQ_FIRST(head)`
macro_rules! tailq_first {
    ($head:expr) => {
        (*$head).tqh_first
    };
}

/// `TAILQ_NEXT(elm, field)`
macro_rules! tailq_next {
    ($elm:expr, $field:ident) => {
        (*$elm).$field.tqe_next
    };
}

/// `TAILQ_INSERT_TAIL(head, elm, field)`
macro_rules! tailq_insert_tail {
    ($head:expr, $elm:expr, $field:ident) => {{
        let h = $head;
        let e = $elm;
        (*e).$field.tqe_next = ::core::ptr::null_mut();
        (*e).$field.tqe_prev = (*h).tqh_last;
        *(*h).tqh_last = e;
        (*h).tqh_last = ::core::ptr::addr_of_mut!((*e).$field.tqe_next);
    }};
}

/// `TAILQ_REMOVE(head, elm, field)`
macro_rules! tailq_remove {
    ($head:expr, $elm:expr, $field:ident) => {{
        let h = $head;
        let e = $elm;
        let next = (*e).$field.tqe_next;
        if !next.is_null() {
            (*next).$field.tqe_prev = (*e).$field.tqe_prev;
        } else {
            (*h).tqh_last = (*e).$field.tqe_prev;
        }
        *(*e).$field.tqe_prev = next;
    }};
}

pub(crate) use {
    tailq_empty, tailq_first, tailq_init, tailq_insert_tail, tailq_next, tailq_remove,
};
