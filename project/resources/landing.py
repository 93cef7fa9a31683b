"""The shop's landing folder as a resource: where files arrive and how each source reads."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from project.lib.shop.sources import SOURCES_FILE, ShopSources, load_sources


class LandingResource(dg.ConfigurableResource):
    """A folder per source under `root`, described by the sources file."""

    root: str = Field(description="The landing folder (SHOP_LANDING_DIR).")
    sources_file: str = Field(str(SOURCES_FILE), description="conf/base/shop/sources.yml")

    @property
    def path(self) -> Path:
        return Path(self.root)

    def sources(self) -> ShopSources:
        return load_sources(Path(self.sources_file))
