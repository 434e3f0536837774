"""A Dask client for the cluster path, and running tasks on it (or here, partition by partition, without one)."""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence

from explorer.cluster.shards import ClusterError
from explorer.words import plural


@contextmanager
def open_client(workers: Optional[int] = None, scheduler: Optional[str] = None,
                say: Callable[[str], None] = lambda _m: None, memory_limit: str | None = None) -> Iterator[Any]:
    """A Dask client: a LocalCluster of ``workers`` processes, the scheduler at ``scheduler``, or None.

    None (neither given) means "run in this process". Prints the dashboard address when there is one.
    """
    if workers is None and scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("the cluster options need Dask: pip install -r requirements-cluster.txt") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        cluster = None
    else:
        if workers < 1:
            raise ClusterError(f"--workers must be at least 1, got {workers}")
        # ":0": a free port (several clusters may run on one machine); without bokeh only the health routes
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": _has_dashboard()},
                               memory_limit=memory_limit or "auto")
        client = Client(cluster)
    try:
        count = len(client.scheduler_info().get("workers", {}))
        say(f"Dask: {plural(count, 'worker')} at {client.scheduler.address}")
        if client.scheduler_info().get("services", {}).get("dashboard"):
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()



def _has_dashboard() -> bool:
    return importlib.util.find_spec("bokeh") is not None



def run_tasks(client, fn: Callable, tasks: Sequence[tuple], *, broadcast: Optional[dict] = None) -> Iterator[Any]:
    """Results of ``fn(*task, **broadcast)`` for every task, in completion order (here or on the cluster)."""
    broadcast = dict(broadcast or {})
    if client is None:
        for task in tasks:
            yield fn(*task, **broadcast)
        return
    from distributed import as_completed

    shared = {k: client.scatter(v, broadcast=True) for k, v in broadcast.items()}
    futures = [client.submit(fn, *task, **shared, pure=False) for task in tasks]
    for future in as_completed(futures):
        yield future.result()
        future.release()
