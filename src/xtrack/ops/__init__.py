"""Operations: maintenance (retention, the daily lease, scheduler heartbeats), the database gauges of
``/metrics``, health probes, ``xtrack doctor`` and ``xtrack demo``. The top layer of the domain: it
may read every table."""
