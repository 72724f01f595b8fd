//! The `bridge` command line.
use bridge_core::render::{Color, render_all};
fn main() {
    let p = std::env::args().nth(1).unwrap_or_default();
    let l = bridge_core::load_file(std::path::Path::new(&p), &Default::default());
    print!("{}", render_all(&l.diagnostics.0, &l.sources, Color::Never));
    if let Some(a) = &l.app {
        print!("{}", bridge_core::emit::to_yaml(a).unwrap_or_default());
    }
}
