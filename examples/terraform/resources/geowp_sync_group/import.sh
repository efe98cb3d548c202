# CONTEXT,CONTEXT,...[/NAMESPACE]: every member's context in $KUBECONFIG (namespace default geowp)
KUBECONFIG=~/.kube/all.yaml terraform import geowp_sync_group.files gke-us-east,gke-eu-west,gke-ap-south/geowp
