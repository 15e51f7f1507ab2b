"""Cluster mode: the same engine as several processes over NATS JetStream.

A room of its own, under ``api/`` (the command line composes it) and above
``exchange/`` and ``feeds/`` (which never import it). :mod:`.nats` starts a
local three-node JetStream cluster and names the streams and subjects;
:mod:`.journal` is a shard's journal on a JetStream stream (the venue's
``Journal`` port); :mod:`.sharding` says which shard owns a product or an id.
"""

from .journal import JetStreamJournal
from .nats import NatsCluster
from .sharding import ID_RANGE, id_base, shard_of_id, shard_of_style

__all__ = [
    "ID_RANGE",
    "JetStreamJournal",
    "NatsCluster",
    "id_base",
    "shard_of_id",
    "shard_of_style",
]
