//! A stand-in for hashicorp/google in the GKE example's tests: the real
//! provider's schema for what the example uses, no cloud behind it. See
//! `geowp_tests::standin`.

fn main() -> std::process::ExitCode {
    tfplugin::serve::main(
        || geowp_tests::standin::provider(include_str!("../../standins/google.json")),
        tfplugin::serve::ServeOpts {
            address: "registry.terraform.io/hashicorp/google",
            about: "terraform-provider-google-standin serves hashicorp/google's schema for the resources geowp's GKE example uses, so that Terraform can validate and plan it here. It checks Terraform-level correctness only, not what Google Cloud would do. Terraform starts it.",
            log_module: "provider.google-standin",
            version: "7.0.0",
        },
    )
}
