"""Build hook, beside pyproject.toml (which holds all the metadata): ship only the model folders the registry marks
`bundled` (zoo/models.json; the size rule is zoo/registry.py: BUNDLE_MAX_BYTES). The others stay out of the sdist and
the wheel, and resolve through the Hugging Face Hub (README, "Installing"). Reads JSON only: nothing is imported.
"""
import json
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def bundled() -> set[str]:
    """Ids of the registered models shipped in the package."""
    registry = json.loads((ROOT / "zoo" / "models.json").read_text(encoding="utf-8"))
    return {model_id for model_id, entry in registry.items() if entry.get("bundled", True)}


class BuildPy(build_py):
    """build_py (used for the wheel, and by sdist to list package data) with only the folders of bundled models: not
    those resolved through the Hub, nor a folder no registry entry names (an export not registered yet)."""

    def exclude_data_files(self, package, src_dir, files):  # noqa: ANN001, ANN201 - setuptools' signature
        files = super().exclude_data_files(package, src_dir, files)
        if package != "zoo":
            return files
        keep = bundled()
        pretrained = Path(src_dir) / "pretrained"

        def shipped(f: str) -> bool:
            parts = Path(f).relative_to(pretrained).parts if Path(f).is_relative_to(pretrained) else ()
            return not parts or parts[0] in keep

        return [f for f in files if shipped(f)]


setup(cmdclass={"build_py": BuildPy})
