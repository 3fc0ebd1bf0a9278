"""`python -m zoo` runs the medzoo CLI."""
from zoo.cli import main

main()
