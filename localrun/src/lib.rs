//! geowp-localrun: demo and test machinery, not product. It makes the
//! simulated regions of `make demo` and the tests run: the pods of each
//! fake cluster run as processes on this machine, for the images it knows.
//!
//! | Image | Runs as |
//! |---|---|
//! | `wordpress:*` | Debian's WordPress 6.1 under PHP's web server, configured from the container's environment as the official image documents (`WORDPRESS_*`, `*_FILE`) |
//! | `syncthing/syncthing:*` | Debian's syncthing, with the config the pod's init container put in place |
//! | `busybox`, `mysql` (init containers, the bootstrap Job) | their commands, with this machine's `sh` and Debian's `mariadb-client` |
//! | `pingcap/tidb:*` | not run (no TiDB binaries can be installed here): its command line and `tidb.toml` are read as tidb-server reads them ([`strict`]), then its SQL port leads to one MariaDB server all regions share |
//! | `pingcap/pd`, `pingcap/tikv` | not run: command line and config file read as pd-server and tikv-server read them ([`strict`]; a refusal crash-loops with the program's message), then reported ready |
//! | the NFS server | simulated: reported ready, nothing runs |
//!
//! ConfigMaps and Secrets become files, claims become directories (a claim
//! the region's NFS provisioner serves lives in the provisioner's export
//! claim, `pvc-UID`, as on a real node); Services get this machine's
//! addresses (`127.N.1.x`, load balancers `127.N.2.x`, given by the fake
//! API server with `--ip-prefix 127.N`), pods `127.N.3.x`, and a TCP proxy
//! in front of their ready pods. Readiness comes from running each pod's
//! own readiness probe against its process; a failing liveness probe
//! restarts it. Where a container path or a Service name must become this
//! machine's, the runtime translates it (environment values, command
//! arguments, the scripts of shell containers, SyncThing's listen
//! addresses); what the provider renders is never changed for it.

pub mod haproxy;
pub mod http;
pub mod mariadb;
pub mod pods;
pub mod proc;
pub mod run;
pub mod sqldelay;
pub mod strict;
pub mod tidbcheck;
pub mod wordpress;
