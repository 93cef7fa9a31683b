"""The `pncp` Typer application and its single error convention.

Every expected problem — a malformed argument, an unknown endpoint, SQL that would
write, a locked or missing warehouse, an unreachable lake catalog, a bad setting — ends
the same way: one line `error: <what is wrong>` on stderr and exit code 2, before anything
is written. Commands raise `CliError` (or let a known library error through);
`PncpApp.__call__` turns those, and click's usage errors, into that line, so no traceback
reaches an operator. Anything else is a bug: it is reported on one line too, with the
traceback only when `PNCP_CLI_DEBUG=1`.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated, Any

import typer
from typer.main import get_command

from project.lib.backup import BackupError
from project.lib.datasets.errors import CatalogError, DatasetError
from project.lib.lake import RollbackError, SnapshotError
from project.lib.query import UnsafeQueryError
from project.lib.warehouse import CatalogUnavailableError, WarehouseLockedError
from project.settings import SettingsError

USAGE_ERROR = 2
EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    SettingsError,
    WarehouseLockedError,
    CatalogUnavailableError,
    UnsafeQueryError,
    BackupError,
    SnapshotError,
    RollbackError,
    CatalogError,
    DatasetError,
)


class CliError(Exception):
    """Bad input or a state the operator must fix first: one line on stderr, exit code 2."""


class CommandFailed(Exception):
    """The command ran and found something wrong (a failed run, a corrupted page): exit 1."""


def one_line(message: str) -> str:
    return "; ".join(line.strip() for line in str(message).splitlines() if line.strip())


def describe(exc: BaseException) -> str:
    """The message of an expected error, with the fix where the library does not say it."""
    if isinstance(exc, WarehouseLockedError):
        holder = re.search(r"\(PID (\d+)\)", str(exc.__cause__ or ""))
        message = str(exc)
        if holder:
            message = message.replace("another process", f"PID {holder.group(1)}")
        return (
            f"{message}: a run or another shell is writing it; retry when it finishes, "
            "or wait longer with `pncp --lock-wait SECONDS ...`"
        )
    if isinstance(exc, SettingsError):
        return one_line(str(exc)).replace("Invalid settings:; ", "invalid settings: ")
    return one_line(str(exc))


def _fail(message: str, code: int) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return code


class PncpApp(typer.Typer):
    """A Typer app whose entry point maps every expected error to one line and an exit code."""

    def main(self, args: list[str] | None = None) -> int:
        command = get_command(self)
        try:
            result = command.main(args=args, prog_name="pncp", standalone_mode=False)
        except CliError as exc:
            return _fail(str(exc), USAGE_ERROR)
        except CommandFailed as exc:
            return _fail(str(exc), 1)
        except EXPECTED_ERRORS as exc:
            return _fail(describe(exc), USAGE_ERROR)
        except typer.TyperException as exc:  # click's (vendored by Typer) usage errors
            return self._usage_error(exc)
        except typer.Abort:
            return _fail("aborted", 1)
        except (KeyboardInterrupt, BrokenPipeError):
            return 130
        except Exception as exc:
            if os.environ.get("PNCP_CLI_DEBUG") == "1":
                raise
            return _fail(
                f"unexpected {type(exc).__name__}: {exc} (PNCP_CLI_DEBUG=1 shows the traceback)",
                1,
            )
        return result if isinstance(result, int) else 0

    @staticmethod
    def _usage_error(exc: typer.TyperException) -> int:
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `pncp` alone: help, not an error
            print(exc.format_message())
            return 0
        where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        return _fail(exc.format_message() + where, getattr(exc, "exit_code", USAGE_ERROR))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        code = self.main(list(args[0]) if args else None)
        sys.stdout.flush()
        raise SystemExit(code)


app = PncpApp(
    name="pncp",
    help=(
        "Operate the PNCP pipeline: set up, extract and transform through Dagster, query "
        "the warehouse, verify the archive, back up and restore. Runs launched here show "
        "up in the Dagster UI like any other run.\n\n"
        "Example: pncp doctor"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Options:
    """Options given before the command name, shared by every command."""

    lock_wait_s: float = 10.0
    progress_every_s: float = 10.0


@app.callback()
def _global_options(
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait",
            min=0,
            help="Seconds to wait while another process holds the warehouse lock.",
        ),
    ] = Options.lock_wait_s,
    progress_every: Annotated[
        float,
        typer.Option(
            "--progress-every",
            min=0.1,
            help="Seconds between progress lines when stderr is not a terminal (on a "
            "terminal, long commands show a live progress display instead).",
        ),
    ] = Options.progress_every_s,
) -> None:
    Options.lock_wait_s = lock_wait
    Options.progress_every_s = progress_every
