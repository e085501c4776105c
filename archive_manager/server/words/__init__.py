"""The words of each desk's pages (paperwork, receivables, the audit desk,
the admin desk), one module per desk, each ``TEXTS = {"zh": {...}, "en":
{...}}``; :mod:`archive_manager.server.texts` merges them into its own and
refuses a key defined twice."""
