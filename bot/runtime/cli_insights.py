"""``kefu insights hot|unanswered`` and ``kefu report``: what customers ask, what the bot could
not answer, and the service figures of a period. Registered on the main ``kefu`` app by
bot/runtime/cli.py, whose error boundary words configuration and Redis errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from alerts.insights.commands import insights_hot, insights_unanswered, report_command, write_labelled_csv
from alerts.insights.report import PERIODS
from bot.runtime.settings import load_settings

insights_app = typer.Typer(help="Hot questions and unanswered ones, from the recorded turns.", no_args_is_help=True)
_ConfigOpt = typer.Option(None, "--config", "-c", help="config YAML (default: KEFU_CONFIG or config/kefu.yaml)")
_DaysOpt = typer.Option(7, "--days", min=1, max=400, help="the last N days (1-400)")
_TopOpt = typer.Option(20, "--top", min=1, help="at most N rows or groups")
_JsonOpt = typer.Option(False, "--json", help="print JSON")
_ShopOpt = typer.Option("", "--shop", help="one shop's figures (a name alerts.shops gives); default: every shop")


def register_insights(app: typer.Typer) -> None:
    """Add ``kefu insights`` and ``kefu report`` to the main app."""
    app.add_typer(insights_app, name="insights")
    app.command("report")(report)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False))


@insights_app.command("hot")
def hot(
    days: int = _DaysOpt, top: int = _TopOpt, as_json: bool = _JsonOpt, shop: str = _ShopOpt,
    config: Path | None = _ConfigOpt,
) -> None:  # fmt: skip
    """TOP intents per day and over the period, per category, with the change against the period before."""
    result = insights_hot(load_settings(config), days, top, shop=shop)
    if as_json:
        _echo_json(result)
        return
    typer.echo(f"{result['start'][:10]} - {result['end'][:10]}: {result['total']} questions ({_signed(result)})")
    for row in result["top"]:
        typer.echo(f"  {row['count']:>6}  {_signed(row):>12}  {row['intent']:<24} {row['title']}")
    if result["categories"]:
        typer.echo("categories:")
    for row in result["categories"]:
        typer.echo(f"  {row['count']:>6}  {_signed(row):>12}  {row['category'] or '-'}")
    for day in result["by_day"]:
        typer.echo(f"{day['day']}: " + ", ".join(f"{r['intent']} {r['count']}" for r in day["top"]))


def _signed(row: dict[str, Any]) -> str:
    pct = f" {row['change_pct']:+.0f}%" if row["change_pct"] is not None else ""
    return f"{row['change']:+d}{pct}"


@insights_app.command("unanswered")
def unanswered(
    days: int = _DaysOpt,
    top: int = _TopOpt,
    as_json: bool = _JsonOpt,
    csv_path: Path | None = typer.Option(
        None, "--csv", help="write the labelled CSV (text,intent) of the groups' texts, intent as suggested"
    ),
    shop: str = _ShopOpt,
    config: Path | None = _ConfigOpt,
) -> None:
    """Questions the bot could not answer, in groups of one need, largest first."""
    groups = insights_unanswered(load_settings(config), days, top, shop=shop)
    if csv_path is not None:
        n = write_labelled_csv(groups, csv_path)
        typer.echo(f"{n} row(s) written to {csv_path}", err=as_json)
    if as_json:
        _echo_json(groups)
        return
    for group in groups:
        typer.echo(f"{group['count']:>5}  {group['suggested_intent'] or '-':<24} {' / '.join(group['examples'])}")
    if not groups:
        typer.echo("no unanswered questions")


def report(
    period: str = typer.Option("day", "--period", help=" | ".join(PERIODS)),
    as_json: bool = _JsonOpt,
    shop: str = _ShopOpt,
    config: Path | None = _ConfigOpt,
) -> None:
    """Service figures of the last day or week: volume, outcomes, resolution, hand-over, risk, tickets."""
    if period not in PERIODS:
        raise typer.BadParameter(f"{period!r} is not one of {', '.join(PERIODS)}", param_hint="--period")
    result = report_command(load_settings(config), period, shop=shop)
    if as_json:
        _echo_json(result)
        return
    for key, value in result.items():
        typer.echo(f"{key + ':':<24} {json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value}")
