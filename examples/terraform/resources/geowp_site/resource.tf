# One per site: the secrets every region of the site shares.
resource "geowp_site" "blog" {
  name = "blog"

  # change a keeper to rotate every secret
  keepers = {
    rotation = "2026-11"
  }
}
