"""The ``kefu`` command line: serve, worker, train, eval, ask, tickets, check-config (and, from
sibling modules, lookup, demo-shop, insights, report).

Errors (docs/cli.md): ``error: <cause, naming the key, flag or file>``, at most one ``hint:``
line, exit code 2 for usage and configuration, 1 for runtime failures; never a traceback for
a known cause. ``_ErrorBoundary`` is the one place that turns known exceptions into that.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from typer.core import TyperGroup

try:  # typer 0.29 runs on its own copy of click: its usage errors are of these classes
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - typer on the click package
    from click import exceptions as click_errors  # type: ignore[no-redef]

from adapters import PLATFORMS
from alerts.notify.checks import describe_alerts, routing_warnings
from alerts.notify.commands import alerts_recent, format_alert, silence_add, silence_expire, silence_list
from alerts.notify.labels import KINDS
from alerts.risk.dataset import RiskDataError
from alerts.tickets.commands import TicketCommandError, tickets_close, tickets_list, tickets_show
from alerts.tickets.model import STATE_NAMES
from bot.logs import LOG_FORMATS
from bot.message import CHANNELS
from bot.nlu.knowledge import KnowledgeBaseError
from bot.nlu.params import ModelFileError
from bot.processes import Layout, share_metrics, start_again
from bot.redis_store import RedisUnavailable
from bot.runtime import Runtime
from bot.runtime.checks import check_settings, startup_problems, unsigned_channels
from bot.runtime.cli_insights import register_insights
from bot.runtime.cli_kb import register_kb
from bot.runtime.cli_lookups import register_lookups
from bot.runtime.commands import ask_command, dead_letters_command, eval_command, train_command
from bot.runtime.server import run_server
from bot.runtime.settings import Settings, load_settings
from bot.runtime.trial import send_trial
from bot.settings import ConfigError, resolve_config_path

USAGE, RUNTIME = 2, 1  # exit codes
_REDIS_HINT = "hint: is the Redis at redis_url running? (kefu check-config shows which one is used)"


def explain(error: BaseException) -> tuple[str, str | None, int] | None:
    """The one-line message, optional hint line and exit code for a known failure; None for a bug."""
    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        return explain(error.exceptions[0])
    if isinstance(error, (ConfigError, KnowledgeBaseError, ModelFileError, RiskDataError)):
        return str(error), None, USAGE
    if isinstance(error, csv.Error):
        return f"not valid CSV: {error}", None, USAGE
    if isinstance(error, RedisUnavailable):
        return str(error), "hint: empty redis_url starts an embedded server under data_dir", RUNTIME
    if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
        return f"cannot reach Redis: {error}", _REDIS_HINT, RUNTIME
    if isinstance(error, RedisError):
        return f"Redis refused the command: {error}", _REDIS_HINT, RUNTIME
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}", None, RUNTIME
    return None


class _ErrorBoundary(TyperGroup):
    """Runs every command (subgroups included) and reports known failures and bad flags as
    ``error:`` lines instead of tracebacks or boxes. Used by ``main()`` and by CliRunner alike."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except click_errors.NoArgsIsHelpError:
            raise  # a bare ``kefu``: the help, as typer shows it
        except click_errors.UsageError as e:  # an unknown option of kefu itself
            _usage(e)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise  # a bare group (``kefu tickets``): its help
        except click_errors.UsageError as e:
            _usage(e)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as e:
            known = explain(e)
            if known is None:
                raise
            _report(*known)


def _usage(error: Any) -> None:
    command = error.ctx.command_path if error.ctx else "kefu"
    _report(error.format_message(), f"hint: {command} --help lists the options", USAGE)


def _report(message: str, hint: str | None, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(hint, err=True)
    raise typer.Exit(code)


app = typer.Typer(
    cls=_ErrorBoundary, add_completion=False, no_args_is_help=True,
    help="kefu-bot: customer-service bot for e-commerce teams.",
)  # fmt: skip

ConfigOpt = typer.Option(None, "--config", "-c", help="config YAML (default: KEFU_CONFIG or config/kefu.yaml)")
LogFormatOpt = typer.Option(
    "text", "--log-format", callback=lambda v: one_of(v, LOG_FORMATS), help="text | json (one JSON object per line)"
)


def fail(message: str, code: int = USAGE) -> None:
    _report(message, None, code)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as e:
        fail(str(e))
        raise  # unreachable: fail() exits


def startable_settings(config: Path | None) -> Settings:
    """Settings that ``serve``/``worker`` can start on: those ``check-config`` passes, minus the
    alert routing checks (an alert going nowhere must not keep the bot from answering)."""
    settings = settings_or_exit(config)
    fail_on(startup_problems(settings))
    return settings


def fail_on(problems: list[str]) -> None:
    """Exit with the problems, one line each (a single one on the error line itself)."""
    if problems:
        fail(problems[0] if len(problems) == 1 else "configuration problems:\n  " + "\n  ".join(problems))


@app.command("check-config")
def check_config(config: Path | None = ConfigOpt) -> None:
    """Validate the configuration and say exactly what is wrong."""
    settings = settings_or_exit(config)
    fail_on(check_settings(settings))
    typer.echo("configuration OK")
    for line in [*describe(settings), *describe_alerts(settings)]:
        typer.echo(f"  {line}")
    for line in [*unsigned_channels(settings), *routing_warnings(settings)]:
        typer.echo(f"warning: {line}")


def describe(settings: Settings) -> list[str]:
    enabled = [f"{spec.name}/{name}" for spec in PLATFORMS for name in settings.channels.apps_of(spec.name)]
    return [
        f"redis: {settings.redis_url or 'embedded, data under ' + str(settings.data_dir)}",
        f"knowledge base: {settings.faq_path}",
        f"intent model: {settings.intent_model_path}",
        f"channels: {', '.join(enabled) or 'none (only the web channel /api/chat)'}",
    ]


@app.command()
def serve(
    config: Path | None = ConfigOpt,
    host: str | None = typer.Option(None, help="listen address (default from config: 0.0.0.0)"),
    port: int | None = typer.Option(None, min=1, max=65535, help="listen port, 1-65535 (default from config: 8080)"),
    parent_pid: int | None = typer.Option(None, hidden=True, help="an extra HTTP process of that kefu serve"),
    ready_fd: int | None = typer.Option(None, hidden=True, help="write to this pipe once up"),
    log_format: str = LogFormatOpt,
) -> None:
    """Webhook server with its HTTP and worker processes (server.http_processes, .worker_processes)."""
    settings = startable_settings(config)
    layout = Layout(settings.server.http_processes, settings.server.worker_processes)
    if parent_pid is None and not layout.single_process and share_metrics(settings.data_dir):
        start_again()  # this process's own counts (its share of the callbacks) in the shared files too
    run_server(
        settings, host or settings.server.host, port or settings.server.port,
        with_http=True, config_path=resolve_config_path(config), parent_pid=parent_pid, ready_fd=ready_fd,
        log_format=log_format,
    )  # fmt: skip


@app.command()
def worker(
    config: Path | None = ConfigOpt,
    parent_pid: int | None = typer.Option(None, hidden=True, help="stop when this process is gone"),
    consumer_name: str | None = typer.Option(None, hidden=True, help="the name its queue consumers go by"),
    ready_fd: int | None = typer.Option(None, hidden=True, help="write to this pipe once up"),
    log_format: str = LogFormatOpt,
) -> None:
    """Workers only (inbox consumers and outbox senders), for scale-out."""
    settings = startable_settings(config)
    run_server(
        settings,
        "",
        0,
        with_http=False,
        config_path=resolve_config_path(config),
        parent_pid=parent_pid,
        consumer_name=consumer_name,
        ready_fd=ready_fd,
        log_format=log_format,
    )


@app.command()
def train(
    task: str = typer.Option("intent", help="intent | risk | emotion"),
    data: Path | None = typer.Option(None, help="knowledge-base YAML, or CSV/TSV (text,intent | text,label)"),
    out: Path | None = typer.Option(None, help="where to write the model"),
    quick: bool = typer.Option(False, "--quick", help="intent: the fixed settings, no search"),
    budget: float | None = typer.Option(
        None, help="intent: seconds to search the settings (default: a minute per 5,000 examples)"
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """Train the intent model (or the risk or negative-emotion model) and save it with its metadata.
    The intent model's settings are searched on cross-validation folds of the data, unless --quick."""
    settings = settings_or_exit(config)
    try:
        for line in train_command(settings, task, data, out, quick=quick, budget=budget):
            typer.echo(line)
    except ValueError as e:
        fail(str(e))


@app.command("eval")
def eval_(
    data: Path = typer.Option(..., help="held-out CSV/TSV, or a knowledge-base YAML (cross-validated)"),
    task: str = typer.Option("intent", help="intent | risk | emotion"),
    model: Path | None = typer.Option(None, help="model file (default: the one the server uses)"),
    folds: int = typer.Option(5, min=2, help="folds when --data is a knowledge base (at least 2)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: Path | None = ConfigOpt,
) -> None:
    """Evaluate on held-out data: accuracy, macro-F1, per-intent table, threshold sweep."""
    settings = settings_or_exit(config)
    try:
        report, text = eval_command(settings, task, data, model, folds)
    except ValueError as e:
        fail(str(e))
        return
    typer.echo(json.dumps(report, ensure_ascii=False) if as_json else text)


@app.command()
def ask(
    text: str = typer.Argument(..., help="the customer's message"),
    user: str = typer.Option("cli-user", help="customer id, web:<ID> as on /api/chat (keeps the conversation)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: Path | None = ConfigOpt,
) -> None:
    """Run one message through the full pipeline locally and print the decision."""
    settings = settings_or_exit(config)
    try:
        reply = asyncio.run(ask_command(settings, text, user))
    except ValueError as e:
        fail(str(e))
        return
    if as_json:
        typer.echo(json.dumps(reply, ensure_ascii=False))
        return
    typer.echo(f"reply:      {reply['reply']}")
    typer.echo(f"action:     {reply['action']}")
    typer.echo(f"intent:     {reply['intent']}  (confidence {reply['confidence']:.2f})")
    if reply["suggestions"]:
        typer.echo(f"suggested:  {', '.join(reply['suggestions'])}")
    typer.echo(f"risk:       {reply['risk']:.2f}  {'；'.join(reply['reasons'])}")
    typer.echo(f"handoff:    {reply['handoff']}")


@app.command("dead-letters")
def dead_letters(
    action: str = typer.Argument("list", help="list | replay"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    config: Path | None = ConfigOpt,
) -> None:
    """Messages parked because handling or delivering them failed (inbox, tasks, outbox), and
    queueing them again once the cause is fixed."""
    settings = settings_or_exit(config)
    try:
        result = asyncio.run(dead_letters_command(settings, action))
    except ValueError as e:
        fail(str(e))
        return
    if isinstance(result, int):
        typer.echo(f"{result} message(s) queued again")
    elif as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    elif not result:
        typer.echo("no dead letters")
    else:
        for entry in result:
            typer.echo(describe_dead_letter(entry))


def describe_dead_letter(entry: dict[str, Any]) -> str:
    """Two lines: where it was parked, its channel/app, attempts and error; then its text or kind."""
    m = entry["m"] if isinstance(entry["m"], dict) else {}
    head = f"{entry['source']:<7} {m.get('channel', '?')}/{m.get('app', '?')}"
    if "attempts" in entry:
        head += f"  attempts {entry['attempts']}"
    body = m.get("text") if "text" in m else m.get("kind", entry["m"])
    return f"{head}  {entry.get('error', '')}\n    {str(body)[:80]!r}"


silence_app = typer.Typer(help="Silences: alerts that match are not sent until they end.", no_args_is_help=True)
app.add_typer(silence_app, name="silence")
alerts_app = typer.Typer(help="Staff alerts.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@silence_app.command("add")
def silence_add_cmd(
    duration: str = typer.Argument(..., help="how long: 30m, 2h, 1d"),
    matcher: str = typer.Argument(..., help="a customer id (or its masked form) or words of the reason"),
    config: Path | None = ConfigOpt,
) -> None:
    """Silence alerts for a customer or a reason."""
    try:
        created = silence_add(settings_or_exit(config), duration, matcher)
    except ValueError as e:
        fail(str(e))
        return
    typer.echo(json.dumps(created, ensure_ascii=False, default=str))


@silence_app.command("list")
def silence_list_cmd(
    include_ended: bool = typer.Option(False, "--all", help="also silences that have ended"),
    config: Path | None = ConfigOpt,
) -> None:
    """Silences, active first."""
    for s in silence_list(settings_or_exit(config), include_ended=include_ended):
        typer.echo(json.dumps(s, ensure_ascii=False, default=str))


@silence_app.command("expire")
def silence_expire_cmd(silence_id: str, config: Path | None = ConfigOpt) -> None:
    """End a silence now."""
    if not silence_expire(settings_or_exit(config), silence_id):
        fail(f"no active silence {silence_id}", 1)
    typer.echo("expired")


@alerts_app.command("recent")
def alerts_recent_cmd(
    limit: int = typer.Option(20, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOpt,
) -> None:
    """The most recent alerts, sent or only recorded."""
    entries = alerts_recent(settings_or_exit(config), limit)
    if as_json:
        typer.echo(json.dumps(entries, ensure_ascii=False, default=str))
        return
    for entry in entries:
        typer.echo(format_alert(entry))
    if not entries:
        typer.echo("no alerts")


@alerts_app.command("test")
def alerts_test_cmd(
    kind: str = typer.Option(..., "--kind", help=" | ".join(KINDS)),
    channel: str = typer.Option("web", "--channel", help="the sample customer's channel (routes may match on it)"),
    team: str = typer.Option("", "--team", help="the team of a ticket notice (default: tickets.default_team)"),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOpt,
) -> None:
    """Send a sample notice of one kind through the real routing and delivery."""
    if kind not in KINDS:
        fail(f"--kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if channel not in CHANNELS:
        fail(f"--channel: expected one of {', '.join(CHANNELS)}, got {channel!r}")
    settings = settings_or_exit(config)

    async def run() -> dict[str, Any]:
        runtime = Runtime.start(settings)
        try:
            return await send_trial(runtime, kind, channel, team)
        finally:
            await runtime.close()

    result = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    labels = " ".join(f"{k}={v}" for k, v in result["labels"].items() if v)
    typer.echo(f"{result['title']}\n  labels: {labels}")
    if not result["receivers"]:
        typer.echo(f"  no receiver: {KINDS[kind]}没有接收人 (add a route for kind {kind} or default_receivers)")
    for d in result["deliveries"]:
        typer.echo(f"  -> {d['receiver']}: {d['status']}" + (f" ({d['error']})" if d.get("error") else ""))


TICKET_STATES = (*STATE_NAMES, "active")


def one_of(value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A flag's value checked against its choices, as a usage error naming them."""
    if value is not None and value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
    return value


tickets_app = typer.Typer(help="Repeat-contact tickets from the shell.", no_args_is_help=True)
app.add_typer(tickets_app, name="tickets")


@tickets_app.command("list")
def tickets_list_cmd(
    mine: str | None = typer.Option(None, "--mine", help="assignee: wecom:zhangsan or a name"),
    state: str | None = typer.Option(
        None, "--state", callback=lambda v: one_of(v, TICKET_STATES), help=" | ".join(TICKET_STATES)
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
    config: Path | None = ConfigOpt,
) -> None:
    """Tickets, newest first."""
    settings = settings_or_exit(config)
    rows = tickets_list(settings, settings.tickets, mine=mine, state=state)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        typer.echo(f"{r['id']}  {r['state']:<12} {r['customer']}  {r['reason']}  {r['assignee'] or '-'}")
    if not rows:
        typer.echo("no tickets")


@tickets_app.command("show")
def tickets_show_cmd(
    ticket_id: str = typer.Argument(..., help="T-YYYYMMDD-NNNN"),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOpt,
) -> None:
    """One ticket with its contact timeline, notes and audit log."""
    settings = settings_or_exit(config)
    try:
        ticket = tickets_show(settings, settings.tickets, ticket_id)
    except TicketCommandError as e:
        fail(str(e), 1)
        return
    typer.echo(json.dumps(ticket, ensure_ascii=False, indent=None if as_json else 2))


@tickets_app.command("close")
def tickets_close_cmd(
    ticket_id: str = typer.Argument(..., help="T-YYYYMMDD-NNNN"),
    reason: str = typer.Option(..., "--reason", help="why it is closed (kept in the audit log)"),
    actor: str = typer.Option(os.environ.get("USER", "cli"), "--actor", help="who closes it"),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOpt,
) -> None:
    """Close a ticket from the shell."""
    settings = settings_or_exit(config)
    try:
        result = tickets_close(settings, settings.tickets, ticket_id, reason, actor)
    except TicketCommandError as e:
        fail(str(e), 1)
        return
    typer.echo(json.dumps(result, ensure_ascii=False) if as_json else result["message"])


register_lookups(app)  # kefu lookup, kefu demo-shop
register_kb(app)  # kefu kb export|import|versions|diff|rollback
register_insights(app)  # kefu insights, kefu report


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
