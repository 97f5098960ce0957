"""``forgelens record-pipeline-run`` and ``forgelens pipeline-runs report`` (seed 003)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from forgelens.cli._common import (
    DbOption,
    FormatOption,
    console,
    err_console,
    parse_duration,
    parse_when,
    print_rows,
    store_for,
)
from forgelens.errors import BadInput, ForgelensError
from forgelens.pipeline_runs.execute import Execution, parse_assignments, run_and_measure
from forgelens.pipeline_runs.prompter import Prompter
from forgelens.pipeline_runs.recorder import load_history, record_runs, stored_run_ids
from forgelens.pipeline_runs.reports import build_report, load_rows, rows_from_history
from forgelens.pipeline_runs.sampler import sample_system
from forgelens.pipeline_runs.self_record import free_run_id
from forgelens.pipeline_runs.validate import PipelineRunInvalid, validate_runs
from forgelens.store import Store

app = typer.Typer(help="Reports over recorded pipeline runs (pipeline_runs).", no_args_is_help=True)


def _say(text: str) -> None:
    err_console.print(text, markup=False, highlight=False, soft_wrap=True)


def _read_json(source: Path) -> Any:
    name = "stdin" if str(source) == "-" else str(source)
    try:
        text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot read {name}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "nothing was recorded"
        ) from exc


def _open(db: str | None, dry_run: bool) -> Store | None:
    """The store to write to; for a dry run the existing one (to check run_ids) or None."""
    if not dry_run:
        return store_for(db)
    try:
        store = store_for(db, read_only=True)
    except ForgelensError:
        return None
    try:
        stored_run_ids(store, ["00000000_000000"])  # a store from before pipeline_runs?
    except ForgelensError:
        store.close()
        return None
    return store


def record_cmd(
    command: Annotated[
        list[str] | None,
        typer.Argument(
            help="With --exec: the command to run and measure (after --).", show_default=False
        ),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="JSON file with one run object or a list ('-': stdin)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also append the runs to this JSON history file."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print; write nothing.")
    ] = False,
    upsert: Annotated[
        bool, typer.Option("--upsert", help="Replace runs whose run_id is already recorded.")
    ] = False,
    pipeline: Annotated[
        str | None, typer.Option(help="Pipeline name for runs that do not carry one.")
    ] = None,
    exec_: Annotated[
        bool, typer.Option("--exec", help="Run the command after --, sample it, record it.")
    ] = False,
    sample_seconds: Annotated[
        float,
        typer.Option(
            help="--exec: seconds between resource samples; interactive: the sampling period."
        ),
    ] = 5.0,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="With --exec: a field of the run, KEY=VALUE (repeatable)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Record a pipeline run: interactively, from JSON (-i), or by running it (--exec).

    Examples:
      forgelens record-pipeline-run -o dashboard/data/pipeline_run_history.json
      forgelens record-pipeline-run -i run.json --dry-run
      forgelens record-pipeline-run --exec --set total_records=500 -- python etl.py
    """
    if command and not exec_:
        raise BadInput(f"unexpected arguments {command}: to run a command write --exec -- CMD ARGS")
    if sample_seconds <= 0:
        raise BadInput("--sample-seconds must be positive, e.g. --sample-seconds 5")
    if set_ and not exec_:
        raise BadInput("--set goes with --exec; put the fields in the -i file instead")
    exit_status, notes = 0, []
    execution: Execution | None = None
    if exec_:
        base = _read_json(input_file) if input_file else {}
        if not isinstance(base, dict):
            raise BadInput("with --exec, -i must hold one run object (the fields to add)")
        base.update(parse_assignments(set_ or []))
        # the store is opened only afterwards: the command may use it (forgelens collect ...)
        execution = run_and_measure(command or [], interval=sample_seconds, base=base)
        data: Any = execution.obj
        exit_status, notes, origin = execution.exit_status, execution.notes, "--exec run"
    elif input_file is not None:
        data = _read_json(input_file)
        origin = "stdin" if str(input_file) == "-" else str(input_file)
    else:
        data, origin = _interactive(db, output, sample_seconds), "interactive run"
        if data is None:
            _say("nothing recorded")
            return
    store = _open(db, dry_run)
    if execution is not None and store is not None and not execution.run_id_given:
        # the command may have recorded a run of its own in the same second (forgelens collect
        # does): the measured run takes the next free second, as forgelens's own runs do
        assert execution.started_at is not None
        data["run_id"] = free_run_id(store, execution.started_at)
    try:
        _record(store, data, origin, notes, output, dry_run, upsert, pipeline)
    finally:
        if store is not None:
            store.close()
    if exit_status:
        # a command killed by signal N (exit_status -N) exits 128 + N, as a shell reports it
        raise typer.Exit(exit_status if exit_status > 0 else 128 - exit_status)


def _interactive(db: str | None, output: Path | None, sample_seconds: float) -> Any:
    taken = load_history(output).run_ids() if output else set()

    def recorded_already(run_id: str) -> bool:
        if run_id in taken:
            return True
        store = _open(db, dry_run=True)  # briefly: the store stays free while the user types
        if store is None:
            return False
        try:
            return bool(stored_run_ids(store, [run_id]))
        finally:
            store.close()

    prompter = Prompter(
        input, _say, taken=recorded_already, measure=lambda: sample_system(sample_seconds)
    )
    return prompter.run()


def _record(
    store: Store | None,
    data: Any,
    origin: str,
    notes: list[str],
    output: Path | None,
    dry_run: bool,
    upsert: bool,
    pipeline: str | None,
) -> None:
    report = validate_runs(data)
    for note in notes:
        _say(f"note: {note}")
    for warning in report.warnings:
        _say(f"warning: {warning}")
    try:
        result = record_runs(
            store,
            report,
            origin=origin,
            history=output,
            upsert=upsert,
            dry_run=dry_run,
            pipeline=pipeline,
        )
    except PipelineRunInvalid as exc:
        for problem in exc.problems:
            _say(f"  - {problem}")
        raise BadInput(
            f"{origin}: {len(exc.problems)} problem(s) listed above; nothing was recorded"
        ) from None
    objs = [v.run.to_json_obj() for v in result.runs]
    if dry_run:
        sys.stdout.write(json.dumps(objs if isinstance(data, list) else objs[0], indent=2) + "\n")
        _say(f"dry run: {len(objs)} valid run(s); nothing was written")
        return
    where = f"{store.url if store else ''}" + (f" and {result.history}" if result.history else "")
    replaced = f" ({len(result.replaced)} replaced)" if result.replaced else ""
    console.print(
        f"recorded {len(objs)} run(s){replaced} into {where}: "
        + ", ".join(o["run_id"] for o in objs),
        highlight=False,
    )


_TABLE_SKIP = ("pipeline", "throughput_recent")


@app.command("report")
def report(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    since: Annotated[str | None, typer.Option(help="Only runs after this date (or 30d).")] = None,
    include_synthetic: Annotated[
        bool, typer.Option("--include-synthetic", help="Count runs marked _synthetic too.")
    ] = False,
    max_age: Annotated[
        str, typer.Option(help="Fresh when the last successful run ended within this.")
    ] = "12h",
    trend_runs: Annotated[int, typer.Option(help="Runs the throughput trend looks at.")] = 10,
    history: Annotated[
        Path | None, typer.Option(help="Read the runs from this JSON history file, not the store.")
    ] = None,
    fail_if_stale: Annotated[
        bool, typer.Option("--fail-if-stale", help="Exit 1 when a pipeline is not fresh.")
    ] = False,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Freshness, success rate, records-per-minute trend and resource peaks, per pipeline.

    Example: forgelens pipeline-runs report --max-age 12h --format json
    """
    when = parse_when(since)
    if history is not None:
        rows, problems = rows_from_history(
            history, pipeline=pipeline, since=when, include_synthetic=include_synthetic
        )
        for problem in problems:
            _say(f"skipped: {problem}")
    else:
        store = store_for(db, read_only=True)
        try:
            rows = load_rows(
                store, pipeline=pipeline, since=when, include_synthetic=include_synthetic
            )
        finally:
            store.close()
    reports = build_report(rows, max_age=parse_duration(max_age), trend_runs=trend_runs)
    if fmt == "json":
        print_rows(reports, "json")
    else:
        if not reports:
            console.print("no pipeline runs recorded (yet)")
        for r in reports:
            fields = [{"measure": k, "value": v} for k, v in r.items() if k not in _TABLE_SKIP]
            recent = " -> ".join(f"{x['throughput_rpm']:,.0f}" for x in r["throughput_recent"])
            fields.append({"measure": "throughput_rpm_recent", "value": recent})
            print_rows(fields, fmt, f"pipeline {r['pipeline']}")
    if fail_if_stale and (not reports or not all(r["fresh"] for r in reports)):
        raise typer.Exit(1)
