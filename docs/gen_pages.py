"""Generate the site's data pages at build time (run by mkdocs-gen-files) from the catalog database and zoo registry."""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)  # the sitegen package lives beside this script
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from sitegen.build import generate  # noqa: E402

generate()
