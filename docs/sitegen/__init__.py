"""Page generators of the medzoo site, run at build time by docs/gen_pages.py; each returns {path: content}."""
