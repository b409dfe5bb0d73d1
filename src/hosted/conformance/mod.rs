//! Conformance (WIP)
