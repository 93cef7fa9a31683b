"""The dataset layer: a Kedro-compatible catalog in `conf/`, read and written as Arrow.

`Catalog.load(conf_dir)` gives named datasets with `load`, `save`, `exists` and `scan`;
Dagster's IO manager (`project.resources.catalog_io`) and the CLI are thin layers on it.
"""

from project.lib.datasets.base import REGISTRY, Dataset, DatasetError
from project.lib.datasets.catalog import Catalog
from project.lib.datasets.config import CatalogError, current_env

__all__ = ["REGISTRY", "Catalog", "CatalogError", "Dataset", "DatasetError", "current_env"]
