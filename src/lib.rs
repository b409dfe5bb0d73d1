//! HAMMER's buffer-cache I/O layer (`sys/vfs/hammer/hammer_io.c`) in Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "hosted")]
extern crate std;

// The kernel object's panic handler (only without `test` and `hosted`; every
// other build gets std's). Unit tests build the module for its formatting.
#[cfg(any(test, not(feature = "hosted")))]
mod kernel_panic;

pub mod io;
pub mod rbtree;
pub mod sys;

#[cfg(feature = "hosted")]
pub mod hosted;
