//! The hosted DragonFly environment (feature `hosted`, uses std): a user-space
//! model of the kernel services and HAMMER neighbours that the I/O layer
//! calls, so the C reference and the Rust port can run side by side in tests.

pub mod conformance;
pub mod hammer;
pub mod kern;
pub mod workload;
