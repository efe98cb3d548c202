fn main() -> std::process::ExitCode {
    tfplugin::serve::main(geowp_provider::provider, geowp_provider::SERVE_OPTS)
}
