//! Gives cargo's own cdylib (target/*/libpidkit.so) the same SONAME as the
//! installed library, for anyone who links against cargo's artifact. The
//! installed libpidkit.so.0, with its PIDKIT_0.1 symbol version, is linked
//! by the Makefile from the staticlib.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpidkit.so.0");
    println!("cargo:rerun-if-changed=build.rs");
}
