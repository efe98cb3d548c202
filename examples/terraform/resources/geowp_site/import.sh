# geowp_site cannot be imported: its secrets exist only in Terraform state.
# Create it with terraform apply.
