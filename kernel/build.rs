fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    // Only the kernel binary uses the linker script (host builds never link it).
    if std::env::var("TARGET").unwrap_or_default() == "x86_64-unknown-none" {
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    }
    println!("cargo:rerun-if-changed=linker.ld");
}
