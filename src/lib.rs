//! HAMMER's buffer-cache I/O layer (`sys/vfs/hammer/hammer_io.c`) in Rust.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "hosted")]
extern crate std;
