# CONTEXT/NAMESPACE/MEMBER, CONTEXT being a context of $KUBECONFIG
KUBECONFIG=~/.kube/config terraform import geowp_cluster_stack.us_east gke-us-east/geowp/us-east
