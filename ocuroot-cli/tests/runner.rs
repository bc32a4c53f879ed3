//! End-to-end tests of the `ocuroot` binary.
