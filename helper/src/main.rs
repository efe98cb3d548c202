use clap::Parser;

fn main() -> std::process::ExitCode {
    geowp_helper::run(geowp_helper::Cli::parse())
}
