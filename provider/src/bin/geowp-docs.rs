//! `make docs`: writes docs/ from the provider's schema and the examples.
fn main() -> std::process::ExitCode {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(std::path::Path::new("."));
    for (path, text) in geowp_provider::docs::all(repo) {
        let full = repo.join(&path);
        if let Some(dir) = full.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("geowp-docs: cannot create {}: {e}", dir.display());
                return std::process::ExitCode::from(1);
            }
        }
        if let Err(e) = std::fs::write(&full, text) {
            eprintln!("geowp-docs: cannot write {}: {e}", full.display());
            return std::process::ExitCode::from(1);
        }
        println!("wrote {path}");
    }
    std::process::ExitCode::SUCCESS
}
