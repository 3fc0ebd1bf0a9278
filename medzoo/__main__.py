"""`python -m medzoo` runs the medzoo command."""
from medzoo.cli import main

main()
