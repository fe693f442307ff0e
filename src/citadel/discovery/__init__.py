"""Service discovery (seed C.3 ``service_discovery``): model services register, gateways watch.

With ``discovery: {backend: etcd, endpoints: [...]}`` each model service puts a
:class:`~.registration.Registration` (model, URL, capacity, version) under a lease it keeps alive
(:mod:`.registrar`); every gateway lists and watches the prefix (:mod:`.watcher`) and feeds the replicas it
finds into its model directory next to the configured ones (:mod:`.feed`). A service that dies vanishes when
its lease expires; one that stops cleanly revokes its lease and vanishes at once. etcd itself is reached
through its v3 JSON gateway (:mod:`.etcd`).
"""
