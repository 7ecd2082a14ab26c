"""The project file: models, YAML with line marks, loading with every error located."""

from erpbridge.config.errors import ConfigErrors
from erpbridge.config.loader import (
    DB_URL_ENV,
    PROJECT_FILE,
    Project,
    find_project_file,
    load_project,
    load_project_text,
)
from erpbridge.config.model import FlowSpec, ProjectSpec, parse_duration

__all__ = [
    "DB_URL_ENV",
    "PROJECT_FILE",
    "ConfigErrors",
    "FlowSpec",
    "Project",
    "ProjectSpec",
    "find_project_file",
    "load_project",
    "load_project_text",
    "parse_duration",
]
