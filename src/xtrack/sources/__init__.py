"""Post sources (demo, X API v2, twitterapi.io, RSS) behind one ``Source`` protocol, and the shared
posts store (``service``): the engine and the playground call only ``service.refresh_account``,
``service.posts_after`` and ``service.get_account``, with the source from ``registry.get_source``."""
