//! Links the kernel with linker.ld and rebuilds when the boot assembly changes.
//! Only the kernel binary uses this; host crates never see these flags.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("powerpc64le") || target.ends_with(".json") || target.contains("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-bins=--no-dynamic-linker");
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=65536");
        println!("cargo:rustc-link-arg-bins=--build-id=none");
    }
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=boot");
}
