//! The `controlhub-operator` binary: a thin CLI over the library.
fn main() {
    println!("controlhub-operator: not yet wired");
}
