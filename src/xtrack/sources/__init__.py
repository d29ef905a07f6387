"""Post sources (demo, X API v2, twitterapi.io, RSS) behind one ``Source`` protocol (``base``),
their outbound HTTP (``http``) and the choice of one from the settings (``registry``). The posts
store that calls them lives in ``xtrack.posts``."""
