use clap::Parser;

fn main() -> std::process::ExitCode {
    geowp_helper::cli::run(geowp_helper::cli::Cli::parse())
}
