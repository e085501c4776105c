"""``archive serve``: the web application and JSON API over the library, the
only holder of the archive's files in a real deployment (docs/deploy.md).
:func:`archive_manager.server.app.create_app` builds the application;
nothing is imported here, so the command line loads it only for ``serve``."""
