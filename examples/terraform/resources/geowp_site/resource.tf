# One per site: the secrets every region of the site shares.
resource "geowp_site" "blog" {
  name = "blog"

  # the regions of the first apply, which found TiDB (member => PD peer URL)
  members = {
    "us-east"  = "https://10.0.0.5:2380"
    "eu-west"  = "https://10.1.0.5:2380"
    "ap-south" = "https://10.2.0.5:2380"
  }

  # change a keeper to rotate every secret
  keepers = {
    rotation = "2026-11"
  }

  lifecycle {
    # founders are recorded once; updating the site would make Terraform
    # destroy a departing region before the survivors remove it from TiDB
    ignore_changes = [members]
  }
}
