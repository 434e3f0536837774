"""Embed and map image sets too big for one machine on a Dask cluster, and read back what that wrote.

Modules by job: ``client`` (a Dask client, running tasks on it or here), ``embed`` (a source's files,
partition by partition, into a sharded folder), ``shards`` (the sharded folder format: reading, writing,
``is_sharded_folder``), ``placement`` (fit a map on a stratified sample, place the rest). Import each name
from the module that owns it; this package re-exports nothing.
"""
