"""The connection of this process to Ray: the cluster at the configured address, or a local one
started on demand (once per process; the flows' task runners then use it)."""

from __future__ import annotations

from components.cluster.settings import ClusterSettings


def connect(cluster: ClusterSettings) -> None:
    try:
        import ray
    except ImportError as error:  # the optional extra is missing
        raise RuntimeError(
            "the ray runner needs the ray extra: pip install 'mllmcl[ray]'"
        ) from error
    if ray.is_initialized():
        return
    if cluster.address:
        ray.init(address=cluster.address, log_to_driver=False)
    else:
        ray.init(  # "local": a new instance, not whichever cluster this machine ran last
            address="local",
            num_cpus=cluster.local_cpus,
            include_dashboard=False,
            log_to_driver=False,
        )
