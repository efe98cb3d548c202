//! A stand-in for hashicorp/aws in the EKS example's tests: the real
//! provider's schema for what the example uses, no cloud behind it. See
//! `geowp_tests::standin`.

fn main() -> std::process::ExitCode {
    tfplugin::serve::main(
        || geowp_tests::standin::provider(include_str!("../../standins/aws.json")),
        tfplugin::serve::ServeOpts {
            address: "registry.terraform.io/hashicorp/aws",
            about: "terraform-provider-aws-standin serves hashicorp/aws's schema for the resources geowp's EKS example uses, so that Terraform can validate and plan it here. It checks Terraform-level correctness only, not what AWS would do. Terraform starts it.",
            log_module: "provider.aws-standin",
            version: "6.58.0",
        },
    )
}
