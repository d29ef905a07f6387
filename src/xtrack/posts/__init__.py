"""The posts store: followed accounts, stored posts, coverage decisions, refresh with the fetch
lease, and the shared source limits. The engine and the playground call ``refresh.refresh_account``
(with a source from ``sources.registry``) and read posts with ``store.new_posts`` / ``store.posts_after``."""
