//! The workspace's uniffi binding generator: `cargo run -p baoming-bindings --bin uniffi-bindgen
//! -- generate --library <libbaoming_bindings.so> --language kotlin|swift|python --out-dir …`
//! (wrapped by `bindings/generate.sh`). Built from the same uniffi version as the library, so
//! the generated code always matches the scaffolding.

fn main() {
    uniffi::uniffi_bindgen_main()
}
