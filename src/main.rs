//! The `vidmocap` binary; everything lives in the library, see `cli`.

fn main() {
    std::process::exit(vidmocap::cli::main());
}
