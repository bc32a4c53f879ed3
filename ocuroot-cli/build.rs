//! Link settings of the `ocuroot` binary.
//!
//! A position-independent executable of this size carries about 77,000 relative
//! relocations, which the dynamic loader reads and applies at every start, before `main`:
//! about a third of the instructions of a small `state diff` (docs/benchmarks.md,
//! "Start-up").
//!
//! - By default, on Linux with glibc, the binary is linked with `-z pack-relative-relocs`
//!   (RELR): the table shrinks from 1.8 MB to 18 KB and applying it costs less. The binary
//!   then needs glibc 2.36 or newer (Debian 12, Ubuntu 22.10, RHEL 10); build with
//!   `OCUROOT_LINK=pie` for an older one.
//! - `OCUROOT_LINK=no-pie` links a position-dependent executable: no relocations to apply
//!   at all (a third fewer instructions at start), at the price of address-space layout
//!   randomisation for the executable's own code. Not the default, because `ocuroot state
//!   view` is a server.

// A build script reads what Cargo tells it through the environment.
#[allow(clippy::disallowed_methods)]
fn main() {
    println!("cargo:rerun-if-env-changed=OCUROOT_LINK");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    match std::env::var("OCUROOT_LINK").as_deref() {
        Ok("pie") => {}
        Ok("no-pie") => println!("cargo:rustc-link-arg-bins=-no-pie"),
        _ => println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs"),
    }
}
