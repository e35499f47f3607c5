"""Configuration: INI parsing, typed sections with defaults, nkululeko aliases, validation."""

from nkl.config.config import Config
from nkl.config.loader import SECTIONS, load_config, parse_config, read_ini
from nkl.config.sections import DatabaseSection, DataSection, ExpSection, FeatsSection, ModelSection, PlotSection

__all__ = [
    "SECTIONS",
    "Config",
    "DataSection",
    "DatabaseSection",
    "ExpSection",
    "FeatsSection",
    "ModelSection",
    "PlotSection",
    "load_config",
    "parse_config",
    "read_ini",
]
