//! Link settings of the `ocuroot` binary.
//!
//! A position-independent executable (PIE) of this size carries about 77,000 relative
//! relocations, which the dynamic loader applies at every start, before `main`: each one
//! writes a pointer into the binary's data, so the pages holding them are copied on first
//! write. That was a quarter of the instructions of `ocuroot state get` and most of its
//! system time (docs/benchmarks.md, "Start-up").
//!
//! - By default, on Linux with glibc, the binary is linked position-dependent (`-no-pie`):
//!   no relative relocations to apply at all. The price is that the executable's own code
//!   and data sit at a fixed address (shared libraries, stack and heap are still
//!   randomised), which matters for `ocuroot state view`, a server; it binds 127.0.0.1 by
//!   default and the rest of ocuroot runs short commands on trusted input. A distribution
//!   that wants address-space layout randomisation of the executable builds with
//!   `OCUROOT_LINK=relr` or `OCUROOT_LINK=pie`.
//! - `OCUROOT_LINK=relr` links a PIE with `-z pack-relative-relocs` (RELR): the relocation
//!   table shrinks from 1.8 MB to 18 KB, but every relocated page is still written at start.
//!   The binary then needs glibc 2.36 or newer (Debian 12, Ubuntu 22.10, RHEL 10).
//! - `OCUROOT_LINK=pie` links a plain PIE (the toolchain's default).

// A build script reads what Cargo tells it through the environment.
#[allow(clippy::disallowed_methods)]
fn main() {
    println!("cargo:rerun-if-env-changed=OCUROOT_LINK");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let link = std::env::var("OCUROOT_LINK").unwrap_or_default();
    // What the binary was linked as, for the test that checks it (tests/test_cli.rs).
    let kind = if os != "linux" || env != "gnu" {
        "toolchain"
    } else {
        match link.as_str() {
            "pie" => "pie",
            "relr" => {
                println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
                "pie"
            }
            _ => {
                println!("cargo:rustc-link-arg-bins=-no-pie");
                "no-pie"
            }
        }
    };
    println!("cargo:rustc-env=OCUROOT_LINKED_AS={kind}");
}
