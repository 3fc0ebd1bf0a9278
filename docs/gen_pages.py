"""Generate the site's data pages at build time (run by mkdocs-gen-files) from the catalog database and zoo registry."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (str(HERE), str(HERE.parent)):  # the sitegen package lives beside this script; bench/ in the repo root
    if folder not in sys.path:
        sys.path.insert(0, folder)

from sitegen.build import generate  # noqa: E402

generate()
