"""Run loggers chosen by `LOG_FORMAT`: Dagster's coloured console, or JSON lines."""

import logging

import dagster as dg

from project.lib.logs import json_handler
from project.settings import Settings


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO")},
    description="JSON lines on stderr with run id, job, asset and partition on every line.",
)
def json_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("dagster.json", level=init_context.logger_config["log_level"])
    logger.addHandler(json_handler())
    return logger


def loggers_for(settings: Settings) -> dict[str, dg.LoggerDefinition]:
    """Replace the default console logger with the JSON one when LOG_FORMAT=json."""
    if settings.log_format != "json":
        return {}
    return {"console": json_console_logger.configured({"log_level": settings.log_level})}
